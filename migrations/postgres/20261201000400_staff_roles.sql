-- Console roles: viewers read, operators act. Accounts made before roles existed could act, so
-- they become operators and nothing changes for them.

alter table staff_accounts
    add column role text not null default 'operator',
    add constraint staff_accounts_role_check check (role in ('viewer', 'operator'));
