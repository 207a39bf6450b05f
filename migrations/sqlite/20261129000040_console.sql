-- The support console: accounts of Dealbridge's own staff (they belong to no tenant). Emails are
-- stored lower case by the application; the password column holds an Argon2 PHC string only.

create table staff_accounts (
    id             integer primary key autoincrement,
    email          text    not null,
    password_hash  text    not null,
    created_at     text    not null,
    last_login_at  text,
    constraint staff_accounts_email_key unique (email)
);
