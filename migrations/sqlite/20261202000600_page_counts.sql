-- The console's queue overview counts each lane's queued and dead jobs up to a cap (its page
-- says "10,000+" past it) and finds each lane's oldest ready job. Counting every job by lane and
-- state read the whole table (230 ms at a million jobs); these partial indexes let each count
-- stop after the cap and the oldest ready job be the first entry of its lane. Its running jobs
-- are few and already have `jobs_locked_until_idx`.

create index jobs_lane_queued_idx on jobs (lane, run_at) where state = 'queued';

create index jobs_lane_dead_idx on jobs (lane) where state = 'dead';
