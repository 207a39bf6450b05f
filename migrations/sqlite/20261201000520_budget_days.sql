-- Tokens charged per company per UTC day; the Postgres twin explains the table.

create table budget_days (
    company_id    integer not null,
    day           text    not null,
    calls         integer not null default 0,
    tokens_spent  integer not null default 0,
    rate_limited  integer not null default 0,
    constraint budget_days_pkey primary key (company_id, day)
);
