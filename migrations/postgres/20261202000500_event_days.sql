-- Events received and event runs that failed, per tenant and UTC day, for the dashboard's 7-day
-- chart: counted as they happen (one row a tenant a day, added to once per recorded batch), so
-- drawing the chart reads seven rows instead of counting the inbox. Days are ISO text
-- (YYYY-MM-DD), which sorts as the days do.
create table event_days (
    tenant_id  uuid   not null,
    day        text   not null,
    received   bigint not null default 0,
    failed     bigint not null default 0,
    constraint event_days_pkey primary key (tenant_id, day),
    constraint event_days_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);
