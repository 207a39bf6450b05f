-- The dashboard's activity list: a tenant's events newest first, over every source, paged by
-- (received_at, id); the per-source index cannot give that order across sources.
create index inbox_events_listed_idx on inbox_events (tenant_id, received_at, id);
