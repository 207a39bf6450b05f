-- The support console's per-tenant timeline; the Postgres twin explains the table.
-- Times are integer milliseconds (as in the inbox and jobs tables) so they compare in time order.

create table token_refreshes (
    tenant_id   text    not null,
    id          text    not null,
    user_id     integer not null,
    outcome     text    not null,
    reason      text,
    created_at  integer not null,
    constraint token_refreshes_pkey primary key (tenant_id, id),
    constraint token_refreshes_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade,
    constraint token_refreshes_outcome_check check (outcome in ('refreshed', 'refused', 'failed'))
);

create index token_refreshes_recent_idx on token_refreshes (tenant_id, created_at, id);

alter table budget_figures add column unauthorized integer not null default 0;
alter table budget_days add column unauthorized integer not null default 0;
