-- Optional two-step sign-in for support staff: the authenticator app's secret, sealed with the
-- app's keys (null: off), and the last time step a code was accepted for, so each code signs in
-- once (RFC 6238 section 5.2), whichever instance checks it.
alter table staff_accounts add column totp_secret text;
alter table staff_accounts add column totp_last_step bigint;
