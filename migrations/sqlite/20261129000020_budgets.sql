-- Shared state of the Pipedrive budget ledger; the Postgres twin explains the tables.
-- Times are Unix milliseconds.

create table budget_companies (
    company_id          integer not null,
    daily_limit         integer,
    learned_limit       integer,
    spent               integer not null default 0,
    period_end_ms       integer not null,
    exhausted_until_ms  integer,
    last_take           integer not null default 0,
    constraint budget_companies_pkey primary key (company_id),
    constraint budget_companies_spent_check check (spent >= 0)
);

create table budget_slots (
    company_id     integer not null,
    user_id        integer not null,
    kind           text    not null,
    slot           integer not null,
    busy_until_ms  integer not null default 0,
    -- Set when Pipedrive said the window is full; a slot is free when both times passed.
    held_until_ms  integer not null default 0,
    constraint budget_slots_pkey primary key (company_id, user_id, kind, slot),
    constraint budget_slots_kind_check check (kind in ('burst', 'search'))
);

create table budget_figures (
    company_id    integer not null,
    calls         integer not null default 0,
    tokens_spent  integer not null default 0,
    rate_limited  integer not null default 0,
    waited_ms     integer not null default 0,
    deferred      integer not null default 0,
    updated_at    text    not null,
    constraint budget_figures_pkey primary key (company_id)
);
