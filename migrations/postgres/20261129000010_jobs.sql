-- The durable job queue. Finished jobs are deleted, so the table holds open work and dead letters only.
-- System jobs (periodic sweeps) use the nil uuid as tenant_id: the column stays not null so it can lead
-- every key. There is no foreign key to tenants: a job row must be insertable without a parent lookup
-- and system jobs have no parent; uninstall cancels a tenant's jobs explicitly.

create table jobs (
    tenant_id     uuid        not null,
    id            uuid        not null,
    kind          text        not null,
    payload       jsonb       not null,
    lane          text        not null,
    priority      smallint    not null,
    state         text        not null,
    attempts      integer     not null,
    max_attempts  integer     not null,
    run_at        timestamptz not null,
    -- The lease: who holds the job and until when. lease_id is the fencing token every write checks.
    locked_until  timestamptz,
    locked_by     text,
    lease_id      uuid,
    last_error    text,
    unique_key    text,
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    constraint jobs_pkey primary key (tenant_id, id),
    constraint jobs_lane_check check (lane in ('realtime', 'default', 'bulk')),
    constraint jobs_state_check check (state in ('queued', 'running', 'dead')),
    constraint jobs_lease_check check ((state = 'running') = (lease_id is not null))
);

-- Claiming: per (tenant, lane) queue, the first ready jobs in claim order. Partial, so it holds only
-- queued rows and the distinct-queue skip scan walks one entry per queue.
create index jobs_ready_idx on jobs (tenant_id, lane, priority, run_at, id) where state = 'queued';

-- Unique jobs: one open job per (tenant, key).
create unique index jobs_unique_key_key on jobs (tenant_id, unique_key)
    where unique_key is not null and state in ('queued', 'running');

-- Recovery of expired leases looks at running rows only.
create index jobs_locked_until_idx on jobs (locked_until) where state = 'running';

-- Dead letters, per tenant, newest first.
create index jobs_dead_idx on jobs (tenant_id, updated_at) where state = 'dead';

-- Wake sleeping workers. Statement-level, so a batch insert sends one notification, and NOTIFY is
-- delivered at commit, so a job enqueued inside a transaction wakes nobody before it is visible.
create function jobs_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('dealbridge_jobs', '');
    return null;
end;
$$;

create trigger jobs_notify_insert after insert on jobs
    for each statement execute function jobs_notify();
