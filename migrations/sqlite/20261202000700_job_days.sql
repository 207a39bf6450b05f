-- Jobs run per tenant, UTC day and job kind, for the console's timeline; the Postgres twin
-- explains the table.
create table job_days (
    tenant_id  text    not null,
    day        text    not null,
    kind       text    not null,
    shard      integer not null,
    done       bigint  not null default 0,
    failed     bigint  not null default 0,
    constraint job_days_pkey primary key (tenant_id, day, kind, shard)
);

create index job_days_day_idx on job_days (day);
