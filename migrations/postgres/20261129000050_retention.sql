-- Retention: when a tenant left (the purge deletes its data a fixed time later; a reinstall clears
-- it), and the custom fields provisioned in each tenant's Pipedrive, by purpose.

alter table tenants add column uninstalled_at timestamptz;

update tenants set uninstalled_at = updated_at where status = 'uninstalled';

create index tenants_uninstalled_at_idx on tenants (uninstalled_at) where status = 'uninstalled';

create table provisioned_fields (
    tenant_id    uuid        not null,
    purpose      text        not null,
    entity       text        not null,
    field_code   text        not null,
    recorded_at  timestamptz not null,
    constraint provisioned_fields_pkey primary key (tenant_id, purpose),
    constraint provisioned_fields_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);
