-- Whether the mirror is known to hold all of a tenant's records of a kind: since when the webhook
-- checks have found the webhooks active without a break (null: not active, or never checked),
-- and per entity (`deal`, `person`, `organization`) when the last reconcile sweep that listed it
-- to the end started, as RFC 3339 text.
alter table pipedrive_webhooks add column active_since integer;
alter table pipedrive_webhooks add column mirror_listed text not null default '{}';
