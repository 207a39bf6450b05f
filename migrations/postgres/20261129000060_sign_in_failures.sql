-- Failed support-console sign-ins per key (an email or a client address), shared by every instance
-- so the throttle holds however many run. Times are milliseconds since the Unix epoch. Rows whose
-- window ended are deleted as new failures come in.

create table sign_in_failures (
    key            text   not null,
    failures       bigint not null,
    window_ends_ms bigint not null,
    constraint sign_in_failures_pkey primary key (key)
);

create index sign_in_failures_window_ends_ms_idx on sign_in_failures (window_ends_ms);
