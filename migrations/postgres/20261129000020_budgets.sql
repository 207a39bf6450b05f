-- Shared state of the Pipedrive budget ledger (see crates/budget): daily tokens per company,
-- send slots per token window, and cumulative figures per company. Keyed by Pipedrive's company
-- id rather than by tenant: the budget is Pipedrive's and these rows hold counters only.
-- Times are Unix milliseconds, so both backends compare them as plain integers.

create table budget_companies (
    company_id          bigint not null,
    daily_limit         bigint,
    learned_limit       bigint,
    -- Tokens charged this period, including blocks leased to app instances.
    spent               bigint not null default 0,
    period_end_ms       bigint not null,
    exhausted_until_ms  bigint,
    -- What the last take granted; read back by the same statement.
    last_take           bigint not null default 0,
    constraint budget_companies_pkey primary key (company_id),
    constraint budget_companies_spent_check check (spent >= 0)
);

-- One row per send a token's rolling window allows: a slot is busy from its lease until its
-- send has left the window.
create table budget_slots (
    company_id     bigint not null,
    user_id        bigint not null,
    kind           text   not null,
    slot           int    not null,
    busy_until_ms  bigint not null default 0,
    -- Set when Pipedrive said the window is full; a slot is free when both times passed.
    held_until_ms  bigint not null default 0,
    constraint budget_slots_pkey primary key (company_id, user_id, kind, slot),
    constraint budget_slots_kind_check check (kind in ('burst', 'search'))
);

create table budget_figures (
    company_id    bigint      not null,
    calls         bigint      not null default 0,
    tokens_spent  bigint      not null default 0,
    rate_limited  bigint      not null default 0,
    waited_ms     bigint      not null default 0,
    deferred      bigint      not null default 0,
    updated_at    timestamptz not null,
    constraint budget_figures_pkey primary key (company_id)
);
