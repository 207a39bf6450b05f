-- Tokens charged per company per UTC day, for the dashboard's 7-day budget chart. Written with the
-- ledger's cumulative figures (budget_figures), in the same transaction, so the two agree; rows
-- older than a few weeks are dropped by the same write. The day is ISO text (YYYY-MM-DD), as on
-- SQLite, so both backends compare and sort it alike.

create table budget_days (
    company_id    bigint not null,
    day           text   not null,
    calls         bigint not null default 0,
    tokens_spent  bigint not null default 0,
    rate_limited  bigint not null default 0,
    constraint budget_days_pkey primary key (company_id, day)
);
