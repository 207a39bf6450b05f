//! Fills the page scenario's database in bulk: set-based `insert ... select` over
//! `generate_series`, never the app's per-row code, into the tables the real migrations made.
//!
//! What a row looks like follows what the app writes (ids are UUIDv7 of the row's time, as
//! `Uuid::now_v7` makes them; states, lanes, kinds, outcomes and entity keys as the app spells
//! them), and what is there follows the app's rules: finished jobs are deleted, so the jobs table
//! holds open and dead jobs only; an uninstall cancels a tenant's jobs and destroys its tokens;
//! finished events are pruned after 30 days; a paused or reconnect-waiting tenant's jobs wait.
//! Rows are spread over tenants by a Zipf law (the tenant of rank r gets a share in proportion to
//! 1 / (r + 1)): the busy tenant is rank 0, the others in a random order. The random choices are
//! seeded, so every run fills the same shape.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dealbridge_core::TenantId;
use sqlx::{Connection, Executor, PgConnection};

/// Job states in the rows filled, by share of the jobs (the rest are ready to run now).
pub const DEAD_SHARE: f64 = 0.17;
pub const RETRYING_SHARE: f64 = 0.08;
pub const LATER_SHARE: f64 = 0.20;
pub const RUNNING_SHARE: f64 = 0.0005;

/// What was filled, for the report and the checks.
#[derive(Debug, Clone, Default)]
pub struct Filled {
    pub tenants: i64,
    pub jobs: i64,
    pub events: i64,
    /// Tenants by state, in `TenantState` order (active, needs reauth, paused, uninstalled).
    pub by_state: [i64; 4],
    /// The busy tenant's jobs: queued, running, dead.
    pub busy_jobs: (i64, i64, i64),
    pub busy_events: i64,
    pub fill_time: Duration,
    pub vacuum_time: Duration,
}

const SEED: &str = "select setseed(0.16)";

/// A UUIDv7 (48 bits of Unix milliseconds, then random bits) for a row made at `at`.
const UUID7: &str = "create function pg_temp.bench_uuid7(at timestamptz) returns uuid
    language sql volatile as $$
        select encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
            placing substring(int8send((extract(epoch from at) * 1000)::bigint) from 3)
            from 1 for 6), 52, 1), 53, 1), 'hex')::uuid
    $$";

/// The tenants to make (`$1` in all, the busy one included) and their state: 80% active, 8%
/// waiting for a reconnect, 4% paused, 8% uninstalled, interleaved.
const PLAN_TENANTS: &str = "create temp table bench_tenant as
    with spread as (
        select n, now() - interval '400 days' * random() as created_at,
            case when (n * 37) % 100 < 80 then 'active'
                 when (n * 37) % 100 < 88 then 'needs_reauth'
                 when (n * 37) % 100 < 92 then 'paused'
                 else 'uninstalled' end as st,
            random() as shuffle
        from generate_series(1, $1::bigint - 1) n)
    select pg_temp.bench_uuid7(created_at) as id, 60000000 + n as company_id, n, st, created_at,
        (row_number() over (order by shuffle))::int as rank
    from spread";

/// The busy tenant, installed through the app's own OAuth flow, as rank 0.
const PLAN_BUSY: &str = "insert into bench_tenant (id, company_id, n, st, created_at, rank)
    select id, company_id, 0, 'active', created_at, 0 from tenants where id = $1";

const TENANTS: &str = "insert into tenants (id, company_id, company_name, company_domain,
        status, created_at, updated_at, uninstalled_at)
    select id, company_id,
        (array['Acme', 'Northwind', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay',
               'Stark', 'Wayne', 'Tyrell'])[1 + n % 10] || ' ' || n,
        lower((array['acme', 'northwind', 'globex', 'initech', 'umbrella', 'hooli', 'vandelay',
               'stark', 'wayne', 'tyrell'])[1 + n % 10]) || '-' || n,
        case st when 'paused' then 'paused' when 'uninstalled' then 'uninstalled'
             else 'active' end,
        created_at, changed_at, case when st = 'uninstalled' then changed_at end
    from (select *, case when st = 'uninstalled' then now() - interval '29 days' * random()
                         else created_at + (now() - created_at) * random() end as changed_at
          from bench_tenant where n > 0) t";

/// One installation each, a second user's for every fifth tenant. Tokens are not sealed here
/// (the pages never open them): the columns are null, as after an uninstall.
const INSTALLATIONS: &str = "insert into installations (tenant_id, user_id, api_domain, scopes,
        status, created_at, updated_at)
    select t.id, t.company_id * 10 + u, 'https://company-' || t.n || '.pipedrive.com', $1,
        case when t.st = 'uninstalled' then 'uninstalled'
             when t.st = 'needs_reauth' and u = 1 then 'needs_reauth'
             else 'active' end,
        t.created_at, now() - interval '2 days' * random()
    from bench_tenant t, generate_series(1, 2) u
    where t.n > 0 and (u = 1 or t.n % 5 = 0)";

/// Webhook registrations of installed tenants: most active, some missing or banned.
const WEBHOOKS: &str = "insert into pipedrive_webhooks (tenant_id, path_token, username,
        credentials, webhook_ids, state, checked_at, created_at, updated_at, active_since,
        mirror_listed)
    select id, md5(random()::text) || md5(random()::text), 'dealbridge-' || company_id,
        decode(md5(random()::text) || md5(random()::text), 'hex'),
        (select jsonb_object_agg(o || '.' || a, company_id * 100 + k)
         from unnest(array['deal', 'person', 'organization']) with ordinality as e(o, i),
             unnest(array['create', 'change', 'delete']) with ordinality as c(a, j),
             lateral (select i * 3 + j as k) x),
        case when r < 0.95 then 'active' when r < 0.98 then 'missing' else 'banned' end,
        now() - interval '1 hour' * random(), created_at, now() - interval '1 hour' * random(),
        case when r < 0.95 then created_at end,
        case when r < 0.95 then jsonb_build_object(
            'deal', to_char(created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
            'person', to_char(created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
            'organization', to_char(created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))
             else '{}'::jsonb end
    from (select *, random() as r from bench_tenant where st <> 'uninstalled') t
    on conflict (tenant_id) do nothing";

const FIELDS: &str = "insert into provisioned_fields (tenant_id, purpose, entity, field_code,
        recorded_at)
    select t.id, p, 'deal', md5(t.id::text || p), t.created_at
    from bench_tenant t,
        unnest(array['deal_order_id', 'deal_order_status', 'deal_order_source']) p
    where t.st <> 'uninstalled'
    on conflict do nothing";

/// Today's budget per installed company (`$1`: the period's end, Unix ms): daily limits of
/// 30,000 tokens a seat, some learnt from a refusal instead, 3% exhausted until the reset.
const BUDGETS: &str = "insert into budget_companies (company_id, daily_limit, learned_limit,
        spent, period_end_ms, exhausted_until_ms)
    select company_id, case when r < 0.9 then lim end, case when r >= 0.9 then lim end,
        case when r < 0.03 then lim else (lim * 0.9 * random())::bigint end,
        $1, case when r < 0.03 then $1 end
    from (select company_id, random() as r,
                 (30000 * (1 + floor(random() * 20)))::bigint as lim
          from bench_tenant where st <> 'uninstalled') t
    on conflict (company_id) do nothing";

const FIGURES: &str = "insert into budget_figures (company_id, calls, tokens_spent,
        rate_limited, waited_ms, deferred, updated_at)
    select company_id, c, c * 4, (c * 0.002 * random())::bigint,
        (c * 3 * random())::bigint, (c * 0.01 * random())::bigint, now()
    from (select company_id, (2000000 * random() * random())::bigint as c
          from bench_tenant where st <> 'uninstalled') t
    on conflict (company_id) do nothing";

/// The per-day records the ledger keeps (`BUDGET_DAYS_KEPT` days; `$1` is today, UTC).
const DAYS: &str = "insert into budget_days (company_id, day, calls, tokens_spent, rate_limited)
    select t.company_id, to_char($1::date - d, 'YYYY-MM-DD'), c, c * 4,
        (c * 0.002 * random())::bigint
    from bench_tenant t, generate_series(0, 34) d,
        lateral (select (20000 * random() * random())::bigint + d * 0 as c) x
    where t.st <> 'uninstalled'
    on conflict do nothing";

/// A few entries per tenant, as install, settings, support and uninstall write them; the busy
/// tenant has a long history.
const AUDIT: &str = "insert into audit_log (tenant_id, actor, action, detail, created_at)
    select t.id, a.actor, a.action, a.detail, t.created_at + (now() - t.created_at) * a.f
    from bench_tenant t, lateral (values
        ('pipedrive_user:' || (t.company_id * 10 + 1), 'install',
         jsonb_build_object('api_domain', 'https://company-' || t.n || '.pipedrive.com'), 0.0, true),
        ('pipedrive_user:' || (t.company_id * 10 + 1), 'settings.saved',
         jsonb_build_object('version', 1), 0.2, true),
        ('staff:support@localhost', 'tenant.pause',
         jsonb_build_object('reason', 'customer asked to stop syncing'), 0.9, t.st = 'paused'),
        ('pipedrive', 'uninstall', '{}'::jsonb, 1.0, t.st = 'uninstalled')
    ) a(actor, action, detail, f, applies)
    where t.n > 0 and a.applies
    union all
    select t.id, 'pipedrive_user:' || t.company_id, 'settings.saved',
        jsonb_build_object('version', k), now() - interval '1 hour' * k
    from bench_tenant t, generate_series(1, 200) k
    where t.n = 0";

/// `$1` jobs over the tenants that are not uninstalled.
const JOBS: &str = "insert into jobs (tenant_id, id, kind, payload, lane, priority, state,
        attempts, max_attempts, run_at, locked_until, locked_by, lease_id, last_error,
        unique_key, created_at, updated_at)
    with w as (
        select id, st, rank, 1.0 / (rank + 1) as weight
        from bench_tenant where st <> 'uninstalled'),
    c as (
        select id, st, weight, sum(weight) over (order by rank) as cum, sum(weight) over () as total
        from w),
    r as (
        select id, st, floor($1::bigint * (cum - weight) / total)::bigint as lo,
            floor($1::bigint * cum / total)::bigint as hi
        from c),
    g as (
        select r.id as tenant_id, r.st, n, random() as p, random() as q, random() as k
        from r, generate_series(r.lo + 1, r.hi) n),
    s as (
        select tenant_id, n, q, k,
            case when p < $2 then 'dead'
                 when p < $2 + $3 then 'retrying'
                 when p < $2 + $3 + $4 then 'later'
                 when p < $2 + $3 + $4 + $5 and st = 'active' then 'running'
                 else 'ready' end as class
        from g),
    t as (
        select s.*,
            case class when 'dead' then now() - interval '30 days' * q * q
                       when 'retrying' then now() - interval '48 hours' * q
                       when 'later' then now() - interval '6 hours' * q
                       when 'running' then now() - interval '10 minutes' * q
                       else now() - interval '6 hours' * q end as created_at,
            case when k < 0.45 then 'realtime' when k < 0.85 then 'bulk' else 'default' end
                as lane,
            case when k < 0.45 then (array['event.order.created', 'event.order.updated',
                     'event.signup', 'event.customer.updated', 'event.pipedrive'])
                     [1 + floor(k * 1000)::int % 5]
                 when k < 0.85 then 'import.chunk'
                 when k < 0.95 then 'pipedrive.reconcile'
                 else 'webhooks.check' end as kind,
            (array['Pipedrive answered 400: Bad Request: stage_id is not a valid stage',
                   'Pipedrive answered 429: Too Many Requests',
                   'lease expired: the worker stopped or stalled',
                   'Pipedrive answered 401: the refresh token was revoked',
                   'Pipedrive answered 500: Internal Server Error'])[1 + floor(q * 997)::int % 5]
                as error
        from s)
    select tenant_id, pg_temp.bench_uuid7(created_at), kind,
        case lane when 'realtime' then jsonb_build_object('event_id', gen_random_uuid())
                  when 'bulk' then jsonb_build_object('import_id', tenant_id, 'chunk', n)
                  else '{}'::jsonb end,
        lane, 0,
        case class when 'dead' then 'dead' when 'running' then 'running' else 'queued' end,
        case class when 'dead' then 10 when 'retrying' then 1 + floor(q * 1000)::int % 8
                   when 'running' then 1 else 0 end,
        10,
        case class when 'retrying' then now() + interval '30 minutes' * q
                   when 'later' then now() + interval '24 hours' * q
                   when 'dead' then created_at + interval '1 hour'
                   else created_at end,
        case when class = 'running' then now() + interval '5 minutes' end,
        case when class = 'running' then 'bench-worker-' || (n % 2) end,
        case when class = 'running' then gen_random_uuid() end,
        case when class in ('dead', 'retrying') then error end,
        null, created_at,
        case class when 'dead' then created_at + interval '2 hours'
                   when 'retrying' then created_at + (now() - created_at) * 0.5
                   when 'running' then now() - interval '10 seconds'
                   else created_at end
    from t";

/// `$1` inbox events over every tenant (an uninstalled one's stay until the purge): mostly
/// processed in the last 30 days, more of them recent; some failed, stale, or still pending.
const EVENTS: &str = "insert into inbox_events (tenant_id, id, source, kind, dedupe_key,
        entity_key, occurred_at, received_at, state, payload, updated_at, outcome)
    with w as (
        select id, rank, 1.0 / (rank + 1) as weight from bench_tenant),
    c as (
        select id, weight, sum(weight) over (order by rank) as cum, sum(weight) over () as total
        from w),
    r as (
        select id, floor($1::bigint * (cum - weight) / total)::bigint as lo,
            floor($1::bigint * cum / total)::bigint as hi
        from c),
    g as (
        select r.id as tenant_id, random() as p, random() as q, random() as k, random() as v,
            floor(random() * 20000)::bigint as entity_no
        from r, generate_series(r.lo + 1, r.hi) n),
    e as (
        select g.*,
            case when k < 0.5 then 'pipedrive' when k < 0.75 then 'event_api'
                 when k < 0.85 then 'shopify' when k < 0.93 then 'woocommerce'
                 else 'api2cart' end as source,
            case when p < 0.02 then 'pending' when p < 0.05 then 'failed'
                 when p < 0.08 then 'stale' else 'processed' end as state,
            case when p < 0.02 then now() - interval '2 hours' * q
                 else now() - interval '30 days' * q * q end as received_at
        from g),
    k as (
        select e.*, pg_temp.bench_uuid7(received_at) as id,
            case source
                when 'pipedrive' then 'pipedrive.'
                    || (array['deal', 'person', 'organization'])[1 + floor(v * 3)::int] || '.'
                    || (array['create', 'change', 'change', 'change', 'delete'])
                       [1 + floor(v * 1000)::int % 5]
                when 'event_api' then (array['signup', 'order.created', 'order.updated',
                    'customer.updated', 'usage.reported', 'ticket.created',
                    'deal.stage_changed'])[1 + floor(v * 7)::int]
                else (array['order.created', 'order.updated', 'order.updated',
                    'customer.updated'])[1 + floor(v * 4)::int] end as kind
        from e)
    select tenant_id, id, source, kind, id::text,
        case when kind like 'pipedrive.%' then split_part(kind, '.', 2) || ':' || entity_no
             when kind like 'order.%' then 'order:' || entity_no
             when kind like 'customer.%' then 'customer:' || entity_no
             when kind = 'deal.stage_changed' then 'deal:' || entity_no end,
        received_at - interval '3 seconds' * v, received_at, state,
        jsonb_build_object(
            'meta', jsonb_build_object('id', id, 'action', split_part(kind, '.', 3),
                'timestamp', received_at, 'version', '2.0', 'attempt', 1),
            'data', jsonb_build_object('id', entity_no, 'title', 'Order ' || entity_no,
                'value', floor(v * 10000), 'currency', 'EUR', 'stage_id', 1 + floor(v * 5),
                'email', 'buyer' || entity_no || '@example.com')),
        received_at + interval '2 seconds' * v,
        case state
            when 'processed' then jsonb_build_object('records', jsonb_build_array(
                jsonb_build_object('kind', 'deal', 'id', entity_no + 1000),
                jsonb_build_object('kind', 'note', 'id', entity_no * 3 + 7)))
            when 'failed' then jsonb_build_object('reason', (array[
                'Pipedrive refused the deal: stage 9 does not exist',
                'the order has no buyer email',
                'Pipedrive answered 403: the token lacks the deals:full scope'])
                [1 + floor(v * 3)::int])
            else 'null'::jsonb end
    from k";

/// Fills the database at `url` around the busy tenant `busy` (installed by the app already).
/// The first company id of the filled tenants (then one more each).
pub const FIRST_COMPANY: i64 = 60_000_001;

pub async fn fill(
    url: &str,
    busy: TenantId,
    tenants: u64,
    jobs: u64,
    events: u64,
) -> anyhow::Result<Filled> {
    let started = Instant::now();
    let mut conn = PgConnection::connect(url).await?;
    conn.execute(SEED).await?;
    conn.execute(UUID7).await?;
    let tenants = i64::try_from(tenants.max(1))?;
    sqlx::query(PLAN_TENANTS)
        .bind(tenants)
        .execute(&mut conn)
        .await?;
    sqlx::query(PLAN_BUSY)
        .bind(busy.as_uuid())
        .execute(&mut conn)
        .await?;
    conn.execute(TENANTS).await?;
    let scopes: Vec<String> = dealbridge_core::installation::APP_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    sqlx::query(INSTALLATIONS)
        .bind(scopes)
        .execute(&mut conn)
        .await?;
    conn.execute(WEBHOOKS).await?;
    conn.execute(FIELDS).await?;
    let now = Utc::now();
    sqlx::query(BUDGETS)
        .bind(next_midnight_ms(now))
        .execute(&mut conn)
        .await?;
    conn.execute(FIGURES).await?;
    sqlx::query(DAYS)
        .bind(now.date_naive())
        .execute(&mut conn)
        .await?;
    conn.execute(AUDIT).await?;
    sqlx::query(JOBS)
        .bind(i64::try_from(jobs)?)
        .bind(DEAD_SHARE)
        .bind(RETRYING_SHARE)
        .bind(LATER_SHARE)
        .bind(RUNNING_SHARE)
        .execute(&mut conn)
        .await?;
    sqlx::query(EVENTS)
        .bind(i64::try_from(events)?)
        .execute(&mut conn)
        .await?;
    let fill_time = started.elapsed();
    // A bulk load leaves no statistics and no visibility map; autovacuum would make both soon
    // after, so the pages are measured as they run once it has.
    let vacuum = Instant::now();
    conn.execute("vacuum (analyze)").await?;
    let vacuum_time = vacuum.elapsed();
    let mut filled = count(&mut conn, busy).await?;
    filled.fill_time = fill_time;
    filled.vacuum_time = vacuum_time;
    conn.close().await?;
    Ok(filled)
}

/// The ledger's period ends at the next UTC midnight.
fn next_midnight_ms(now: DateTime<Utc>) -> i64 {
    let tomorrow = now.date_naive() + chrono::Days::new(1);
    tomorrow
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis())
}

/// What the database holds, in one row, for either database (`$1` the busy tenant): tenants,
/// jobs and events; tenants by the console's own definition of each state (see
/// `TenantListQuery::state`) in `Filled::by_state` order; the busy tenant's queued, running and
/// dead jobs, and its events.
pub const COUNTS: &str = "select (select count(*) from tenants), (select count(*) from jobs),
        (select count(*) from inbox_events), s.*, b.*,
        (select count(*) from inbox_events where tenant_id = $1)
    from (select
            count(*) filter (where status = 'active' and not reauth),
            count(*) filter (where status <> 'uninstalled' and reauth),
            count(*) filter (where status = 'paused' and not reauth),
            count(*) filter (where status = 'uninstalled')
        from (select t.status, exists (select 1 from installations i
                  where i.tenant_id = t.id and i.status = 'needs_reauth') as reauth
              from tenants t) x) s,
        (select count(*) filter (where state = 'queued'),
            count(*) filter (where state = 'running'), count(*) filter (where state = 'dead')
        from jobs where tenant_id = $1) b";

/// The row of `COUNTS`.
pub type Counts = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);

impl From<Counts> for Filled {
    fn from(c: Counts) -> Self {
        Filled {
            tenants: c.0,
            jobs: c.1,
            events: c.2,
            by_state: [c.3, c.4, c.5, c.6],
            busy_jobs: (c.7, c.8, c.9),
            busy_events: c.10,
            ..Filled::default()
        }
    }
}

async fn count(conn: &mut PgConnection, busy: TenantId) -> anyhow::Result<Filled> {
    let counts: Counts = sqlx::query_as(COUNTS)
        .bind(busy.as_uuid())
        .fetch_one(conn)
        .await?;
    Ok(counts.into())
}
