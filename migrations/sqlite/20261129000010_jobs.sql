-- The durable job queue (see the Postgres twin for the design). Differences: times are integer
-- milliseconds since the epoch, because claiming compares them and text timestamps of varying
-- precision do not compare correctly; ids are uuid text; payload is JSON text. SQLite has one
-- writer at a time, so a claim is a single atomic statement and needs no SKIP LOCKED.

create table jobs (
    tenant_id     text    not null,
    id            text    not null,
    kind          text    not null,
    payload       text    not null,
    lane          text    not null,
    priority      integer not null,
    state         text    not null,
    attempts      integer not null,
    max_attempts  integer not null,
    run_at        integer not null,
    locked_until  integer,
    locked_by     text,
    lease_id      text,
    last_error    text,
    unique_key    text,
    created_at    integer not null,
    updated_at    integer not null,
    constraint jobs_pkey primary key (tenant_id, id),
    constraint jobs_lane_check check (lane in ('realtime', 'default', 'bulk')),
    constraint jobs_state_check check (state in ('queued', 'running', 'dead')),
    constraint jobs_lease_check check ((state = 'running') = (lease_id is not null))
);

create index jobs_ready_idx on jobs (tenant_id, lane, priority, run_at, id) where state = 'queued';

create unique index jobs_unique_key_key on jobs (tenant_id, unique_key)
    where unique_key is not null and state in ('queued', 'running');

create index jobs_locked_until_idx on jobs (locked_until) where state = 'running';

create index jobs_dead_idx on jobs (tenant_id, updated_at) where state = 'dead';
