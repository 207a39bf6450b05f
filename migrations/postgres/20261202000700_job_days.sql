-- Jobs run per tenant, UTC day and job kind, for the console's timeline: finished jobs are deleted
-- from `jobs`, so without these counts nothing would tell that a job ran well. `done` is added to
-- by the completion statement itself (one round trip, as before), `failed` by each failed attempt.
-- Each (tenant, day, kind) is split over 16 shards, one picked per completed batch from its first
-- job's random id bits, so several instances completing one busy tenant's jobs rarely wait on the
-- same row; readers sum them. Days are ISO text (YYYY-MM-DD), as in `event_days`.
--
-- System jobs (the nil tenant) are not counted: the timeline is per tenant and they belong to
-- none. There is no foreign key to tenants, as `jobs` has none: completion must not wait on a
-- parent lookup, and a job may finish for a tenant purged meanwhile; the purge deletes a tenant's
-- rows here explicitly, and the event retention prunes old days.
create table job_days (
    tenant_id  uuid    not null,
    day        text    not null,
    kind       text    not null,
    shard      integer not null,
    done       bigint  not null default 0,
    failed     bigint  not null default 0,
    constraint job_days_pkey primary key (tenant_id, day, kind, shard)
);

-- The retention's prune deletes by day across tenants.
create index job_days_day_idx on job_days (day);
