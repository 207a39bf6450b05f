-- Where each tenant's reconcile sweep got to: per followed entity (`deal`, `person`,
-- `organization`), the newest `update_time` already fed into the inbox, as RFC 3339 text.
alter table pipedrive_webhooks add column reconcile_watermarks jsonb not null default '{}';
