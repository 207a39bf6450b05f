-- The console's tenants list counts each tenant's running jobs and its failures of the last 24
-- hours; these partial indexes keep those counts to the rows they count (a tenant's queued jobs
-- already have `jobs_ready_idx`, its dead ones `jobs_dead_idx`).

create index jobs_running_tenant_idx on jobs (tenant_id) where state = 'running';

create index jobs_failing_idx on jobs (tenant_id, updated_at)
    where state = 'queued' and last_error is not null;

-- The audit-log page filters by actor, newest first, in pages keyed by id.
create index audit_log_actor_idx on audit_log (actor, id);
