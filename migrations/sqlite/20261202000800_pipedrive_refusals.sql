-- Calls Pipedrive refused, one row each; the Postgres twin explains the table. Times are integer
-- milliseconds, as in the jobs table, so they compare in time order.
create table pipedrive_refusals (
    company_id      integer not null,
    day             text    not null,
    seq             integer not null,
    id              text    not null,
    at              integer not null,
    status          integer not null,
    method          text    not null,
    path            text    not null,
    retry_after_ms  integer,
    which_limit     text,
    constraint pipedrive_refusals_pkey primary key (company_id, day, seq),
    constraint pipedrive_refusals_status_check check (status in (401, 429))
);

create index pipedrive_refusals_recent_idx on pipedrive_refusals (company_id, at, id);
create index pipedrive_refusals_day_idx on pipedrive_refusals (day);
