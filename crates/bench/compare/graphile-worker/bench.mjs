// graphile-worker measured the way `dealbridge-bench queue` measures our queue (see README.md):
// no-op jobs/s drained by one worker process, then by two; enqueue-to-start latency at a steady
// enqueue rate with an in-process worker; worker CPU time per job. Prints a table, then one JSON
// line as the very last line.
//
//   node bench.mjs [--seconds N]     the whole scenario (parent)
//   node bench.mjs worker SCHEMA     a worker child (spawned by the parent)
//
// The database is GRAPHILE_BENCH_URL (default postgres://postgres@127.0.0.1:5432/graphile_bench,
// created if missing); every run migrates graphile-worker into a fresh schema and drops it at the end.

import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { Logger, makeWorkerUtils, run, runMigrations, runOnce } from "graphile-worker";

const DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/graphile_bench";
const URL = process.env.GRAPHILE_BENCH_URL || DEFAULT_URL;

// The same figures as crates/bench/src/scenarios/queue.rs.
const JOBS = 20_000; // jobs per drain
const ENQUEUE_CHUNK = 5000; // bulk enqueue chunk, as ours
const CONCURRENCY = 64; // handlers per worker process (ours); GW_CONCURRENCY overrides it here
const POOL = 8; // Postgres connections per process (ours: PgStore pool of 8)
const ENQUEUE_EVERY_MS = 2; // latency phase: one job every 2 ms
const WARMUP_MS = 300; // latency phase: worker runs this long before the first enqueue
const SETTLE_MS = 500; // latency phase: wait after the last enqueue before stopping

// graphile-worker settings. Defaults mirror what our worker does: it claims up to 64 jobs in
// one query (graphile: localQueue.size), records outcomes in batches (completeJobBatchDelay 0:
// completions made in the same tick share one query), wakes on LISTEN/NOTIFY and polls every 1 s
// as a fallback (pollInterval). GW_LOCAL_QUEUE=-1 and GW_COMPLETE_BATCH_DELAY=-1 give stock
// graphile-worker (one get_job query and one complete_job query per job).
const envInt = (name, fallback) => {
  const raw = process.env[name];
  return raw === undefined || raw === "" ? fallback : Number.parseInt(raw, 10);
};
const SETTINGS = {
  concurrency: envInt("GW_CONCURRENCY", CONCURRENCY),
  maxPoolSize: envInt("GW_POOL", POOL),
  pollInterval: envInt("GW_POLL_MS", 1000),
  localQueueSize: envInt("GW_LOCAL_QUEUE", CONCURRENCY),
  completeJobBatchDelay: envInt("GW_COMPLETE_BATCH_DELAY", 0),
};

// Warnings and errors only, on stderr (stdout carries the parent/child protocol and the report).
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") {
    process.stderr.write(`graphile-worker ${level}: ${message}\n`);
  }
});

function workerOptions(pgPool, schema) {
  const worker = {
    concurrentJobs: SETTINGS.concurrency,
    pollInterval: SETTINGS.pollInterval,
    maxPoolSize: SETTINGS.maxPoolSize,
    completeJobBatchDelay: SETTINGS.completeJobBatchDelay,
  };
  if (SETTINGS.localQueueSize > 0) {
    worker.localQueue = { size: SETTINGS.localQueueSize };
  }
  return { pgPool, schema, logger, noHandleSignals: true, preset: { worker } };
}

function makePool() {
  const pool = new pg.Pool({ connectionString: URL, max: SETTINGS.maxPoolSize });
  const report = (e) => process.stderr.write(`Postgres client failed: ${e.message}\n`);
  pool.on("error", report);
  pool.on("connect", (client) => client.on("error", report));
  return pool;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
const wallMs = () => performance.timeOrigin + performance.now();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Worker child: connects, says `ready`, waits for `go` on stdin, drains the queue (runOnce: every
// one of the `concurrency` workers exits when it finds nothing to run), and reports what it
// completed and the CPU time (user + system) it spent doing so.

async function child(schema) {
  const pool = makePool();
  await pool.query("select 1");
  let completed = 0;
  let firstStart = Infinity;
  let lastEnd = 0;
  const taskList = {
    noop: async () => {
      if (firstStart === Infinity) firstStart = wallMs();
    },
  };
  const options = workerOptions(pool, schema);
  const events = new EventEmitter();
  events.on("job:success", () => {
    completed += 1;
    lastEnd = wallMs();
  });
  options.events = events;

  const lines = createInterface({ input: process.stdin });
  const go = new Promise((resolve) => lines.once("line", resolve));
  process.stdout.write("ready\n");
  await go;
  lines.close();

  const cpuBefore = process.cpuUsage();
  await runOnce(options, taskList);
  const cpu = process.cpuUsage(cpuBefore);
  await pool.end();
  const report = {
    completed,
    cpu_us: cpu.user + cpu.system,
    first_start_ms: firstStart,
    last_end_ms: lastEnd,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Parent.

/** Children still running; killed if the parent fails, so none outlives the schema it works in. */
const running = new Set();
process.on("exit", () => {
  for (const proc of running) proc.kill("SIGKILL");
});

function spawnChild(schema) {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), "worker", schema], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  running.add(proc);
  proc.on("exit", () => running.delete(proc));
  const lines = createInterface({ input: proc.stdout });
  const received = [];
  let waiting = null;
  lines.on("line", (line) => {
    received.push(line);
    if (waiting) {
      const w = waiting;
      waiting = null;
      w();
    }
  });
  const exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
  const nextLine = async () => {
    while (received.length === 0) {
      await new Promise((resolve) => {
        waiting = resolve;
        exited.then(resolve);
      });
      if (received.length === 0 && proc.exitCode !== null) {
        throw new Error(`worker child exited with ${proc.exitCode} before saying anything`);
      }
    }
    return received.shift();
  };
  return { proc, exited, received, nextLine };
}

function noopJobs(count, offset) {
  const jobs = [];
  for (let n = 0; n < count; n += 1) {
    jobs.push({ identifier: "noop", payload: { n: offset + n } });
  }
  return jobs;
}

/** Drains JOBS queued no-op jobs with `processes` worker children; returns jobs/s and CPU/job. */
async function drainWith(utils, schema, processes) {
  for (let offset = 0; offset < JOBS; offset += ENQUEUE_CHUNK) {
    await utils.addJobs(noopJobs(Math.min(ENQUEUE_CHUNK, JOBS - offset), offset));
  }
  const children = [];
  for (let i = 0; i < processes; i += 1) {
    const c = spawnChild(schema);
    const line = await c.nextLine();
    if (line.trim() !== "ready") throw new Error(`worker child said ${JSON.stringify(line)}`);
    children.push(c);
  }
  const started = performance.now();
  for (const c of children) c.proc.stdin.write("go\n");
  const runs = [];
  for (const c of children) {
    const code = await c.exited;
    if (code !== 0) throw new Error(`worker child failed with exit code ${code}`);
    const last = c.received[c.received.length - 1];
    runs.push(JSON.parse(last));
  }
  const elapsed = (performance.now() - started) / 1000;
  const completed = runs.reduce((sum, r) => sum + r.completed, 0);
  if (completed !== JOBS) throw new Error(`children completed ${completed} of ${JOBS}`);
  const cpu = runs.reduce((sum, r) => sum + r.cpu_us, 0);
  const firstStart = Math.min(...runs.map((r) => r.first_start_ms));
  const lastEnd = Math.max(...runs.map((r) => r.last_end_ms));
  return {
    jobsPerS: completed / elapsed,
    cpuPerJob: cpu / completed,
    // Also shown: the rate counted from the first handler start to the last completion.
    jobsPerSInner: completed / ((lastEnd - firstStart) / 1000),
  };
}

/** Enqueues one job at a time at a steady rate while an in-process worker runs; measures the time
 * from just before the enqueue call to the handler's start. */
async function latency(utils, schema, seconds) {
  const samples = [];
  const pool = makePool();
  const options = workerOptions(pool, schema);
  const taskList = {
    noop: async (payload) => {
      samples.push(performance.now() - payload.t);
    },
  };
  const runner = await run(options, taskList);
  await sleep(WARMUP_MS);
  // Like tokio's interval (MissedTickBehavior::Burst): ticks every 2 ms from the start; a late
  // tick is made up at once.
  const begin = performance.now();
  const deadline = begin + seconds * 1000;
  let n = 0;
  while (performance.now() < deadline) {
    const due = begin + n * ENQUEUE_EVERY_MS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    await utils.addJob("noop", { n, t: performance.now() });
    n += 1;
  }
  await sleep(SETTLE_MS);
  await runner.stop();
  await runner.promise.catch(() => {});
  await pool.end();
  return { samples, enqueued: n };
}

function quantile(sorted, q) {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

async function ensureDatabase() {
  const target = new globalThis.URL(URL);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ""));
  const probe = new pg.Client({ connectionString: URL });
  try {
    await probe.connect();
    await probe.end();
    return;
  } catch (e) {
    if (e.code !== "3D000") throw e; // anything but "database does not exist"
  }
  target.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: target.toString() });
  await admin.connect();
  await admin.query(`create database "${name.replace(/"/g, '""')}"`);
  await admin.end();
}

async function parent(seconds) {
  await ensureDatabase();
  const schema = `gw_bench_${randomBytes(8).toString("hex")}`;
  const pool = makePool();
  const { version } = JSON.parse(
    readFileSync(new globalThis.URL("./node_modules/graphile-worker/package.json", import.meta.url), "utf8"),
  );
  let report;
  try {
    await runMigrations(workerOptions(pool, schema));
    const utils = await makeWorkerUtils({ pgPool: pool, schema, logger });
    const one = await drainWith(utils, schema, 1);
    const two = await drainWith(utils, schema, 2);
    const { samples, enqueued } = await latency(utils, schema, seconds);
    await utils.release();
    samples.sort((a, b) => a - b);
    report = { version, one, two, samples, enqueued };
  } finally {
    for (const proc of running) proc.kill("SIGKILL");
    await pool.query(`drop schema if exists ${schema} cascade`).catch(() => {});
    await pool.end();
  }

  const { one, two, samples, enqueued } = report;
  const p50 = quantile(samples, 0.5);
  const p99 = quantile(samples, 0.99);
  const lq = SETTINGS.localQueueSize > 0 ? `localQueue.size ${SETTINGS.localQueueSize}` : "no localQueue";
  const rows = [
    ["setup", `${JOBS} no-op jobs, concurrency ${SETTINGS.concurrency} per process`],
    ["graphile-worker", `${report.version} on Node ${process.versions.node}`],
    [
      "settings",
      `${lq}, completeJobBatchDelay ${SETTINGS.completeJobBatchDelay}, maxPoolSize ${SETTINGS.maxPoolSize}, pollInterval ${SETTINGS.pollInterval} ms, LISTEN/NOTIFY on`,
    ],
    ["jobs_per_s_1", `${one.jobsPerS.toFixed(0)} jobs/s (1 worker process)`],
    ["jobs_per_s_2", `${two.jobsPerS.toFixed(0)} jobs/s (2 worker processes)`],
    [
      "first start to last end",
      `${one.jobsPerSInner.toFixed(0)} jobs/s (1 process), ${two.jobsPerSInner.toFixed(0)} jobs/s (2 processes)`,
    ],
    ["latency samples", `${samples.length} of ${enqueued} enqueued`],
    ["p50_ms", `${p50.toFixed(2)} ms enqueue to start`],
    ["p99_ms", `${p99.toFixed(2)} ms enqueue to start`],
    ["cpu_us_per_job", `${one.cpuPerJob.toFixed(1)} us worker CPU per job`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  console.log("scenario: graphile-worker");
  console.log("-".repeat(width + 24));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`);
  console.log("-".repeat(width + 24));
  const r2 = (v) => Math.round(v * 100) / 100;
  console.log(
    JSON.stringify({
      scenario: "graphile-worker",
      jobs_per_s_1: r2(one.jobsPerS),
      jobs_per_s_2: r2(two.jobsPerS),
      p50_ms: r2(p50),
      p99_ms: r2(p99),
      cpu_us_per_job: r2(one.cpuPerJob),
      concurrency: SETTINGS.concurrency,
      local_queue: SETTINGS.localQueueSize,
    }),
  );
}

const [mode, arg] = process.argv.slice(2);
if (mode === "worker") {
  await child(arg);
} else {
  const at = process.argv.indexOf("--seconds");
  const seconds = at >= 0 ? Math.max(1, Number.parseInt(process.argv[at + 1], 10) || 5) : 5;
  await parent(seconds);
}
