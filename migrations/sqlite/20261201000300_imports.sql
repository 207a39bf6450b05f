-- CSV imports: one row per uploaded file, one row per line of it. Each line's row is also the
-- import's journal for that line: the intent recorded before a write to Pipedrive and the id
-- recorded after it, so a re-run never writes the same line twice.

-- Times are integer milliseconds (as in the jobs table) so they compare in time order.
create table imports (
    tenant_id     text        not null,
    id            text        not null,
    -- The uploader: the import writes with their installation.
    user_id       integer     not null,
    kind          text        not null,
    file_name     text        not null,
    headers       text        not null,
    -- Column index (as text) -> target field.
    mapping       text        not null,
    policy        text        not null,
    state         text        not null,
    total_rows    integer     not null,
    done_rows     integer     not null,
    failed_rows   integer     not null,
    skipped_rows  integer     not null,
    tokens_spent  integer     not null,
    created_at    integer     not null,
    updated_at    integer     not null,
    started_at    integer,
    finished_at   integer,
    constraint imports_pkey primary key (tenant_id, id),
    constraint imports_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade,
    constraint imports_kind_check check (kind in ('persons', 'organizations', 'deals')),
    constraint imports_policy_check check (policy in ('skip', 'update', 'create')),
    constraint imports_state_check check (state in ('uploaded', 'validated', 'running', 'paused', 'cancelled', 'done'))
);

create table import_rows (
    tenant_id     text        not null,
    import_id     text        not null,
    row_number    integer     not null,
    -- What the row is found by, in the file and in Pipedrive (email, name, title).
    row_key       text        not null,
    -- The cells, in column order (a JSON array of strings).
    cell_values   text        not null,
    state         text        not null,
    reason        text,
    intent        text,
    pipedrive_id  integer,
    constraint import_rows_pkey primary key (tenant_id, import_id, row_number),
    constraint import_rows_import_fkey foreign key (tenant_id, import_id) references imports (tenant_id, id) on delete cascade,
    constraint import_rows_state_check check (state in ('pending', 'done', 'failed', 'skipped'))
);

create index import_rows_key_idx on import_rows (tenant_id, import_id, row_key, row_number);
create index import_rows_pipedrive_id_idx on import_rows (tenant_id, import_id, pipedrive_id) where pipedrive_id is not null;
