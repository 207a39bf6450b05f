-- Tenants, installations, versioned tenant settings and the audit log.
-- Timestamps are RFC 3339 text written by the application (UTC); ids of tenants are UUID text.

create table tenants (
    id              text    not null,
    company_id      integer not null,
    company_name    text    not null,
    company_domain  text    not null,
    status          text    not null,
    created_at      text    not null,
    updated_at      text    not null,
    constraint tenants_pkey primary key (id),
    constraint tenants_company_id_key unique (company_id),
    constraint tenants_status_check check (status in ('active', 'paused', 'uninstalled'))
);

create table installations (
    tenant_id                text    not null,
    user_id                  integer not null,
    api_domain               text    not null,
    scopes                   text    not null,
    status                   text    not null,
    -- Token columns hold ciphertext only (see the crypto crate); the key id lets a rotation find
    -- rows still sealed under an old key without decrypting anything.
    access_token_ciphertext  blob,
    refresh_token_ciphertext blob,
    token_key_id             text,
    access_expires_at        text,
    created_at               text    not null,
    updated_at               text    not null,
    constraint installations_pkey primary key (tenant_id, user_id),
    constraint installations_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade,
    constraint installations_status_check check (status in ('active', 'needs_reauth', 'uninstalled'))
);

create index installations_token_key_id_idx on installations (token_key_id);

create table tenant_settings (
    tenant_id  text    not null,
    version    integer not null,
    body       text    not null,
    saved_by   text,
    saved_at   text    not null,
    constraint tenant_settings_pkey primary key (tenant_id, version),
    constraint tenant_settings_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create table audit_log (
    id          integer primary key autoincrement,
    tenant_id   text,
    actor       text    not null,
    action      text    not null,
    detail      text    not null,
    created_at  text    not null,
    constraint audit_log_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create index audit_log_tenant_idx on audit_log (tenant_id, id);
