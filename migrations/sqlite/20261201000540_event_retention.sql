-- Retention of finished events: the prune walks finished events oldest first, and the journals
-- keyed by a day by the time they were last written.
create index inbox_events_finished_idx on inbox_events (received_at, id)
    where state in ('processed', 'stale');
create index step_journal_updated_idx on step_journal (updated_at);
