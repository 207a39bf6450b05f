-- Token refresh: a lease so one process at a time refreshes an installation's tokens, and the time
-- the token pair was last written (install or refresh), for the sweep that keeps idle refresh
-- tokens alive.

alter table installations add column refresh_lease_holder text;
alter table installations add column refresh_lease_until timestamptz;
alter table installations add column tokens_updated_at timestamptz;

update installations set tokens_updated_at = updated_at where refresh_token_ciphertext is not null;

create index installations_tokens_updated_at_idx on installations (tokens_updated_at);
