-- Session epochs: one counter per sign-in subject (`installation:TENANT:USER`, `staff:ID`). A session
-- cookie is honoured only while the epoch it was issued under is current; bumping it (logout,
-- Disconnect, uninstall) ends every copy of the subject's cookies on every instance.

create table session_epochs (
    subject text   not null,
    epoch   bigint not null,
    constraint session_epochs_pkey primary key (subject)
);
