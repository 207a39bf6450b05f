-- The console's tenants list counts each tenant's queued and running jobs and its failures of the
-- last 24 hours; these partial indexes keep those counts to the rows they count (its dead ones
-- already have `jobs_dead_idx`). The queued count has its own narrow index: walking the claim
-- index (`jobs_ready_idx`, five columns wide) for it took twice as long at a million jobs.

create index jobs_queued_tenant_idx on jobs (tenant_id) where state = 'queued';

create index jobs_running_tenant_idx on jobs (tenant_id) where state = 'running';

create index jobs_failing_idx on jobs (tenant_id, updated_at)
    where state = 'queued' and last_error is not null;

-- The audit-log page filters by actor, newest first, in pages keyed by id.
create index audit_log_actor_idx on audit_log (actor, id);
