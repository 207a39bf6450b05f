-- Events received and event runs that failed, per tenant and UTC day, for the dashboard's 7-day
-- chart: counted as they happen (added to once per recorded batch), so drawing the chart reads a
-- few rows instead of counting the inbox. Each day is split over 16 shards, picked by the event's
-- random id bits, so concurrent writers for one busy tenant rarely wait on the same row; the
-- chart sums them. Days are ISO text (YYYY-MM-DD), which sorts as the days do.
create table event_days (
    tenant_id  uuid   not null,
    day        text   not null,
    shard      integer not null,
    received   bigint not null default 0,
    failed     bigint not null default 0,
    constraint event_days_pkey primary key (tenant_id, day, shard),
    constraint event_days_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);
