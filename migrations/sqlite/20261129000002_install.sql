-- One-time values (OAuth state nonces), shared by every instance so a replay is refused anywhere.
create table used_nonces (
    purpose     text not null,
    nonce       text not null,
    expires_at  text not null,
    constraint used_nonces_pkey primary key (purpose, nonce)
);

create index used_nonces_expires_at_idx on used_nonces (expires_at);
