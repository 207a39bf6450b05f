-- The support console: accounts of Dealbridge's own staff (they belong to no tenant). Emails are
-- stored lower case by the application; the password column holds an Argon2 PHC string only.

create table staff_accounts (
    id             bigint      generated always as identity,
    email          text        not null,
    password_hash  text        not null,
    created_at     timestamptz not null,
    last_login_at  timestamptz,
    constraint staff_accounts_pkey primary key (id),
    constraint staff_accounts_email_key unique (email)
);
