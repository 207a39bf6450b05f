-- Workflows: the step journal that makes a retried job skip what it already did in Pipedrive, and
-- what each inbox event became.

create table step_journal (
    tenant_id    uuid        not null,
    job_key      text        not null,
    step         text        not null,
    -- The key the step's record carries, journalled before the write.
    intent       text        not null,
    -- What the step produced; JSON null until it finished.
    result       jsonb       not null,
    created_at   timestamptz not null,
    updated_at   timestamptz not null,
    constraint step_journal_pkey primary key (tenant_id, job_key, step),
    constraint step_journal_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

-- The records an event became, or why it failed or was skipped; JSON null while pending.
alter table inbox_events add column outcome jsonb not null default 'null'::jsonb;
