-- Events in: the inbox of accepted events, Pipedrive webhook registrations and the local mirror of
-- the tenant's Pipedrive records.

-- Times are integer milliseconds (as in the jobs table) so they compare in time order.
create table inbox_events (
    tenant_id    text        not null,
    id           text        not null,
    source       text        not null,
    kind         text        not null,
    dedupe_key   text        not null,
    entity_key   text,
    occurred_at  integer     not null,
    received_at  integer     not null,
    state        text        not null,
    payload      text        not null,
    updated_at   integer     not null,
    constraint inbox_events_pkey primary key (tenant_id, id),
    -- A sender's retry of the same delivery is recorded once.
    constraint inbox_events_dedupe_key unique (tenant_id, source, dedupe_key),
    constraint inbox_events_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade,
    constraint inbox_events_state_check check (state in ('pending', 'processed', 'failed', 'stale'))
);

-- The newest event per entity decides whether an arriving one is stale.
create index inbox_events_entity_idx on inbox_events (tenant_id, source, entity_key, occurred_at)
    where entity_key is not null;
-- The dashboard's recent events per source.
create index inbox_events_recent_idx on inbox_events (tenant_id, source, received_at);

create table pipedrive_webhooks (
    tenant_id    text        not null,
    path_token   text        not null,
    username     text        not null,
    credentials  blob        not null,
    webhook_ids  text        not null,
    state        text        not null,
    checked_at   integer,
    created_at   integer     not null,
    updated_at   integer     not null,
    constraint pipedrive_webhooks_pkey primary key (tenant_id),
    constraint pipedrive_webhooks_path_token_key unique (path_token),
    constraint pipedrive_webhooks_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade,
    constraint pipedrive_webhooks_state_check check (state in ('active', 'missing', 'banned'))
);

create table pipedrive_mirror (
    tenant_id    text        not null,
    entity       text        not null,
    record_id    integer     not null,
    name         text,
    email        text,
    domain       text,
    order_id     text,
    changed_at   integer     not null,
    deleted      integer     not null,
    data         text        not null,
    constraint pipedrive_mirror_pkey primary key (tenant_id, entity, record_id),
    constraint pipedrive_mirror_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create index pipedrive_mirror_email_idx on pipedrive_mirror (tenant_id, email) where email is not null;
create index pipedrive_mirror_domain_idx on pipedrive_mirror (tenant_id, domain) where domain is not null;
create index pipedrive_mirror_name_idx on pipedrive_mirror (tenant_id, entity, lower(name));
create index pipedrive_mirror_order_idx on pipedrive_mirror (tenant_id, order_id) where order_id is not null;
