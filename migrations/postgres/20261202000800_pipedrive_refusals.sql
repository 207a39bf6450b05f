-- Calls Pipedrive refused (401: token refused; 429: rate limited), one row each, for the console's
-- timeline; the per-day counts in budget_days stay the totals. Keyed by company, as the budget
-- records are (a company's calls are refused whichever tenant row it has). At most a fixed number
-- per company and UTC day: `seq` numbers a day's rows, an insert takes the next one only while it
-- is within the bound, and two instances taking the same one conflict on the key, so a flood
-- cannot grow the table. `path` is the operation's path with ids as {id}, never a query string.
-- Old days are pruned by the retention job.
create table pipedrive_refusals (
    company_id      bigint      not null,
    day             text        not null,
    seq             integer     not null,
    id              uuid        not null,
    at              timestamptz not null,
    status          integer     not null,
    method          text        not null,
    path            text        not null,
    retry_after_ms  bigint,
    which_limit     text,
    constraint pipedrive_refusals_pkey primary key (company_id, day, seq),
    constraint pipedrive_refusals_status_check check (status in (401, 429))
);

-- The timeline reads a company's refusals newest first from a (time, id) cursor.
create index pipedrive_refusals_recent_idx on pipedrive_refusals (company_id, at, id);
-- The retention prunes by day across companies.
create index pipedrive_refusals_day_idx on pipedrive_refusals (day);
