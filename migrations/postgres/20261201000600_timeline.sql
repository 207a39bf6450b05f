-- The support console's per-tenant timeline. Most of what it shows is kept already (the audit log,
-- the inbox, failing and dead jobs, the per-day budget records); two facts were not: each token
-- refresh with how it ended, and the calls Pipedrive answered 401.

create table token_refreshes (
    tenant_id   uuid        not null,
    id          uuid        not null,
    user_id     bigint      not null,
    outcome     text        not null,
    -- Why a refresh did not succeed, as the OAuth server or the transport put it (never a token).
    reason      text,
    created_at  timestamptz not null,
    constraint token_refreshes_pkey primary key (tenant_id, id),
    constraint token_refreshes_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade,
    constraint token_refreshes_outcome_check check (outcome in ('refreshed', 'refused', 'failed'))
);

-- The timeline reads a tenant's refreshes newest first, and each write drops that tenant's
-- refreshes older than the kept days: both walk this index.
create index token_refreshes_recent_idx on token_refreshes (tenant_id, created_at, id);

-- Calls Pipedrive answered 401 (the access token refused), next to the 429s already counted.
alter table budget_figures add column unauthorized bigint not null default 0;
alter table budget_days add column unauthorized bigint not null default 0;

-- The timeline reads a tenant's audit entries newest first by id: `audit_log_tenant_idx` already
-- serves it; its events per source by `inbox_events_recent_idx`, its failing and dead jobs by
-- `jobs_failing_idx` and `jobs_dead_idx`. Nothing is added to the inbox, the hottest table.
