// PostgreSQL: the processing and end-to-end measurements on the shared store.
// Processing runs real `confluo start --role process` workers (1, then 2
// processes) over a pre-filled inbox; its baseline writes the same rows
// straight into the same schema (prepared statements, one transaction per
// batch), over as many connections as there are workers. End to end is one
// hub in every role, timed from POST /events to the receiver.
//
// Each measurement gets its own database, copied from a template filled once
// (CREATE DATABASE … TEMPLATE copies files: seconds, where accepting 200,000
// events again would take longer than the measurement).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/index.js';
import type { Child } from '../lib/child.js';
import { contactEnvelope } from '../lib/events.js';
import { benchPostgres, createDatabase, startPostgresHub, type BenchPostgres } from '../lib/postgres.js';
import { startBenchReceiver } from '../lib/receiver.js';
import type { BenchContext, Row } from '../lib/report.js';
import { KEY_SHAPES, type KeyShape } from '../lib/load.js';
import { watchActivity, type ActivityPerEvent } from '../lib/pg-activity.js';
import { measure, p99Note, WARM_UP_SECONDS } from './end-to-end.js';

const BATCH = 1000; // the processor's default batch size
const KEYS = 10_000;
const DESK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
// The support-desk integration on, so each change also writes a delivery row; nobody sends them
// (the workers run without the deliver role), so the URL needs no listener.
const DESK_ENV = { SUPPORT_DESK_URL: 'http://127.0.0.1:9', SUPPORT_DESK_SECRET: DESK_SECRET };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A migrated database whose inbox holds `events` contact updates over `KEYS` keys, analyzed; nobody stays connected. */
async function filledTemplate(server: BenchPostgres, events: number) {
  const db = await createDatabase(server, 'template');
  try {
    const store = new PostgresStore({ url: db.url });
    try {
      await store.init();
      for (let i = 0; i < events; i += 5000) {
        const chunk = Array.from({ length: Math.min(5000, events - i) }, (_, j) => {
          const e = contactEnvelope(String((i + j) % KEYS));
          return { eventId: e.id, name: e.name, version: 1, flowId: e.flowId, entity: 'customer', key: `CC-${(i + j) % KEYS}`, envelope: e, acceptedAt: Date.now() };
        });
        await store.inbox.accept(chunk);
      }
    } finally {
      await store.close();
    }
    // Fresh statistics, copied with the template, so every copy starts with the same query plans.
    await withClient(db.url, (client) => client.query('VACUUM ANALYZE'));
    return db;
  } catch (error) {
    await db.drop();
    throw error;
  }
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Events/s of `workers` real worker processes draining the inbox of a fresh copy of the template. */
async function confluoRate(server: BenchPostgres, template: string, workers: number, events: number, ctx: BenchContext): Promise<number> {
  const db = await createDatabase(server, `process${workers}`, template);
  const children: Child[] = [];
  try {
    const profileDir = process.env.CONFLUO_BENCH_PG_CPU_PROF;
    const started = await Promise.allSettled(
      Array.from({ length: workers }, () =>
        startPostgresHub({ db: db.url, role: 'process', dataDir: ctx.dir, env: DESK_ENV, ...(profileDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profileDir] } : {}) }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') children.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return await withClient(db.url, async (client) => {
      // Timed from the moment every worker is up: a worker may have begun while another was still
      // loading, so the rate is what was still queued then over the time it took to drain.
      const t0 = performance.now();
      const queued = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM inbox WHERE status = 'queued'`)).rows[0]?.n);
      for (;;) {
        const { rowCount } = await client.query(`SELECT 1 FROM inbox WHERE status = 'queued' LIMIT 1`);
        if (rowCount === 0) break;
        await sleep(50);
      }
      const seconds = (performance.now() - t0) / 1000;
      await expectAllApplied(client, events);
      return queued / seconds;
    });
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await db.drop();
  }
}

/** A rate means nothing if the work was not done: every event processed, one change and one delivery each. */
async function expectAllApplied(client: pg.Client, events: number): Promise<void> {
  const { rows } = await client.query<{ processed: string; changes: string; deliveries: string; parked: string }>(
    `SELECT (SELECT count(*) FROM inbox WHERE status = 'processed') AS processed, (SELECT count(*) FROM changes) AS changes,
            (SELECT count(*) FROM deliveries) AS deliveries, (SELECT count(*) FROM parked) AS parked`,
  );
  const got = rows[0]!;
  if ([got.processed, got.changes, got.deliveries].some((n) => Number(n) !== events) || Number(got.parked) !== 0) {
    throw new Error(`PostgreSQL processing did not apply ${events} events: ${JSON.stringify(got)}`);
  }
}

// The storage limit: the rows the processor writes for these events (the record, two audit rows,
// a change, a delivery, the inbox status), as the SQLite baseline writes them, sent as one JSON
// parameter per table and batch (the fastest way pg takes many rows; see jsonRows in
// src/store/postgres/connection.ts). No claims, leases, record reads, rules or diffs.
const RAW = {
  queued: `SELECT seq, event_id, key FROM inbox WHERE status = 'queued' AND mod(abs(hashtext(key)), $2) = $3 ORDER BY seq LIMIT $1`,
  records: `INSERT INTO records (entity, key, version, parts, created_at, updated_at)
    SELECT 'customer', key, 1, parts, at, at FROM json_to_recordset($1::json) AS u(key text, parts text, at bigint)
    ON CONFLICT (entity, key) DO UPDATE SET version = records.version + 1, parts = excluded.parts, updated_at = excluded.updated_at`,
  audit: `INSERT INTO audit (entity, key, version, part, field, old_value, new_value, rule, event_id, flow_id, at)
    SELECT 'customer', key, 1, 'contact', field, NULL, new_value, 'r', event_id, 'f', at FROM json_to_recordset($1::json) AS u(key text, field text, new_value text, event_id text, at bigint)`,
  changes: `INSERT INTO changes (entity, key, version, event_id, flow_id, rule, changed_parts, diffs, record, at)
    SELECT 'customer', key, version, event_id, 'f', 'r', '["contact"]', diffs, record, at
    FROM json_to_recordset($1::json) AS u(key text, version int, event_id text, diffs text, record text, at bigint)`,
  deliveries: `INSERT INTO deliveries (delivery_id, integration, kind, entity, key, event_id, version, request, status, cycle_started_at, next_attempt_at, created_at, updated_at)
    SELECT delivery_id, 'support-desk', 'change', 'customer', key, event_id, 1, request, 'pending', at, at, at, at
    FROM json_to_recordset($1::json) AS u(delivery_id text, key text, event_id text, request text, at bigint)`,
  mark: `UPDATE inbox SET status = 'processed', processed_at = u.at, result = '{}' FROM json_to_recordset($1::json) AS u(seq bigint, at bigint) WHERE inbox.seq = u.seq`,
};

/** Drains the inbox's share `part` of `of` (by key hash, so connections never share a key). */
async function rawDrain(client: pg.Client, part: number, of: number): Promise<number> {
  const run = (name: keyof typeof RAW, values: unknown[]) => client.query({ name: `raw-${name}`, text: RAW[name], values });
  const versions = new Map<string, number>();
  let done = 0;
  for (;;) {
    const { rows } = await run('queued', [BATCH, of, part]);
    const events = rows as Array<{ seq: string; event_id: string; key: string }>;
    if (events.length === 0) return done;
    const at = Date.now();
    const records = new Map<string, { key: string; parts: string; at: number }>();
    const audit: unknown[] = [];
    const changes: unknown[] = [];
    const deliveries: unknown[] = [];
    for (const row of events) {
      const version = (versions.get(row.key) ?? 0) + 1;
      versions.set(row.key, version);
      const parts = `{"contact":{"name":"n${row.seq}","email":"c@example.com"}}`;
      records.set(row.key, { key: row.key, parts, at }); // one row per key and statement, as the processor writes
      audit.push({ key: row.key, field: 'name', new_value: `"n${row.seq}"`, event_id: row.event_id, at }, { key: row.key, field: 'email', new_value: '"c@example.com"', event_id: row.event_id, at });
      changes.push({ key: row.key, version, event_id: row.event_id, diffs: '[{"part":"contact","field":"name","newValue":"x"}]', record: parts, at });
      deliveries.push({ delivery_id: `d-${row.seq}`, key: row.key, event_id: row.event_id, request: '{"body":{"key":"x"}}', at });
    }
    await client.query('BEGIN');
    try {
      await run('records', [JSON.stringify([...records.values()])]);
      await run('audit', [JSON.stringify(audit)]);
      await run('changes', [JSON.stringify(changes)]);
      await run('deliveries', [JSON.stringify(deliveries)]);
      await run('mark', [JSON.stringify(events.map((e) => ({ seq: e.seq, at })))]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    done += events.length;
  }
}

/** Events/s of the raw writes over `connections` connections on a fresh copy of the template. */
async function rawRate(server: BenchPostgres, template: string, connections: number, events: number): Promise<number> {
  const db = await createDatabase(server, `raw${connections}`, template);
  const clients: pg.Client[] = [];
  try {
    for (let i = 0; i < connections; i += 1) {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      clients.push(client);
    }
    const t0 = performance.now();
    const done = (await Promise.all(clients.map((client, part) => rawDrain(client, part, connections)))).reduce((a, b) => a + b, 0);
    const seconds = (performance.now() - t0) / 1000;
    if (done !== events) throw new Error(`raw PostgreSQL baseline wrote ${done} of ${events} events`);
    return done / seconds;
  } finally {
    await Promise.all(clients.map((c) => c.end()));
    await db.drop();
  }
}

/**
 * Deliveries/s a dispatcher's claim-and-settle loop gets through a backlog: `BACKLOG` pending
 * deliveries over `BACKLOG / 10` keys (ten changes each, interleaved as reused keys write them),
 * claimed 64 at a time and settled at once. Ordered claims must find each key's oldest pending
 * delivery; the baseline is the same loop unordered, on a copy of the same backlog.
 */
const BACKLOG = 20_000;

async function claimLoop(server: BenchPostgres, template: string, ordered: boolean): Promise<number> {
  const db = await createDatabase(server, ordered ? 'claims_ordered' : 'claims', template);
  const store = new PostgresStore({ url: db.url });
  try {
    await store.init();
    const started = performance.now();
    let done = 0;
    for (let now = Date.now(); ; now += 1) {
      const claimed = await store.deliveries.claimDeliveries([{ integration: 'support-desk', limit: 64, ordered }], { now, leaseMs: 60_000, owner: 'bench' });
      if (claimed.length === 0) break;
      await store.deliveries.settleAttempts(
        claimed.map((d) => ({
          owner: 'bench',
          status: 'succeeded' as const,
          nextAttemptAt: null,
          integrationSucceeded: true,
          attempt: { deliveryId: d.deliveryId, attempt: 1, trigger: 'scheduled' as const, startedAt: now, durationMs: 1, method: 'PUT', url: 'http://127.0.0.1:9/', requestHeaders: {}, status: 204, response: null, error: null, outcome: 'succeeded' as const, nextAttemptAt: null },
        })),
        now,
      );
      done += claimed.length;
    }
    if (done !== BACKLOG) throw new Error(`the claim loop settled ${done} of ${BACKLOG} deliveries (ordered: ${ordered})`);
    return done / ((performance.now() - started) / 1000);
  } finally {
    await store.close();
    await db.drop();
  }
}

async function claimCost(server: BenchPostgres): Promise<{ ordered: number; unordered: number }> {
  const db = await createDatabase(server, 'claims_template');
  try {
    const store = new PostgresStore({ url: db.url });
    try {
      await store.init();
      await store.deliveries.registerIntegrations(['support-desk'], Date.now());
      const keys = BACKLOG / 10;
      const createdAt = Date.now() - 60_000;
      for (let i = 0; i < BACKLOG; i += 5000) {
        await store.inbox.commitBatch({
          records: [],
          audit: [],
          changes: [],
          deliveries: Array.from({ length: 5000 }, (_, j) => {
            const n = i + j;
            return { deliveryId: `cl-${n}`, integration: 'support-desk', kind: 'change' as const, entity: 'customer', key: `CC-${n % keys}`, eventId: `cle-${n}`, version: Math.floor(n / keys) + 1, request: { body: { n } }, status: 'pending' as const, createdAt: createdAt + n };
          }),
          digestItems: [],
          processed: [],
          parked: [],
        });
      }
    } finally {
      await store.close();
    }
    return { ordered: await claimLoop(server, db.name, true), unordered: await claimLoop(server, db.name, false) };
  } finally {
    await db.drop();
  }
}

/**
 * p50/p95/p99 from POST /events to the signed delivery at the receiver, one hub in every role, at
 * 1,000 events/s: every key new, then keys reused (support-desk delivers in order per key).
 */
async function endToEndLatency(server: BenchPostgres, ctx: BenchContext) {
  const db = await createDatabase(server, 'e2e');
  const receiver = await startBenchReceiver();
  let hub: Child | undefined;
  try {
    hub = await startPostgresHub({
      db: db.url,
      role: 'all',
      dataDir: ctx.dir,
      env: { SUPPORT_DESK_URL: receiver.url, SUPPORT_DESK_SECRET: `whsec_${randomBytes(24).toString('base64')}` },
    });
    await measure(hub.url, receiver, 1000, WARM_UP_SECONDS, 'pgwarm'); // JIT and connection warm-up, not reported
    const seconds = ctx.quick ? 5 : 30;
    const results = [];
    for (const shape of KEY_SHAPES) {
      const watch = await watchActivity(db.url, [hub.process.pid as number]);
      const fixed = await measure(hub.url, receiver, 1000, seconds, `pg${shape.name}`, shape.keys);
      const activity = await watch.stop(fixed.run.sent);
      if (fixed.run.failed > 0) throw new Error(`${fixed.run.failed} events were not accepted at 1,000/s on PostgreSQL (${shape.label})`);
      results.push({ ...fixed, label: shape.label, activity });
    }
    return results;
  } finally {
    await hub?.stop();
    await receiver.close();
    await db.drop();
  }
}

/** One step of the roles-split run: a rate held for a while, its latencies and where the time went. */
interface SplitStep {
  rate: number;
  p99: number;
  complete: boolean;
  failed: number;
  activity: ActivityPerEvent;
}

/**
 * Roles split over processes, as a team outgrowing one would run them: 1 ingest, 2 process and
 * 1 deliver process on one database. Rates climb until p99 passes 100 ms, something is not
 * delivered, or an event is refused; each step records CPU per event by process kind and the
 * database's commits and WAL syncs, which say where the limit is.
 */
async function rolesSplit(server: BenchPostgres, ctx: BenchContext, keys: KeyShape, label: string): Promise<{ best: number; steps: SplitStep[] }> {
  const db = await createDatabase(server, 'split');
  const receiver = await startBenchReceiver();
  const children: Child[] = [];
  try {
    const env = { SUPPORT_DESK_URL: receiver.url, SUPPORT_DESK_SECRET: `whsec_${randomBytes(24).toString('base64')}` };
    // The ingest process first: it migrates the database the others then find ready.
    const ingest = await startPostgresHub({ db: db.url, role: 'ingest', dataDir: ctx.dir, env });
    children.push(ingest);
    children.push(...(await Promise.all(['process', 'process', 'deliver'].map((role) => startPostgresHub({ db: db.url, role, dataDir: ctx.dir, env })))));
    await measure(ingest.url, receiver, 1000, WARM_UP_SECONDS, `sw${label}`, keys); // JIT and connection warm-up, not reported
    const steps: SplitStep[] = [];
    let best = 0;
    for (const rate of ctx.quick ? [1000, 2000, 3000] : [1000, 1500, 2000, 2500, 3000, 4000, 5000]) {
      const watch = await watchActivity(
        db.url,
        children.map((c) => c.process.pid as number),
      );
      const step = await measure(ingest.url, receiver, rate, ctx.quick ? 3 : 10, `s${label}${rate}x`, keys);
      const activity = await watch.stop(step.run.sent);
      steps.push({ rate, p99: step.p99, complete: step.complete, failed: step.run.failed, activity });
      if (!step.complete || step.run.failed > 0 || !(step.p99 <= 100)) break;
      best = rate;
    }
    return { best, steps };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await receiver.close();
    await db.drop();
  }
}

const splitNote = (steps: readonly SplitStep[]) =>
  steps
    .map((s) => {
      const a = s.activity;
      const outcome = s.failed > 0 ? `${s.failed} refused` : s.complete ? `p99 ${Math.round(s.p99)} ms` : `p99 ${Math.round(s.p99)} ms, not all delivered`;
      return `${s.rate}/s: ${outcome}; CPU µs/event hub ${Math.round(a.hubCpu)}, PostgreSQL ${Math.round(a.postgresCpu)}, load ${Math.round(a.benchCpu)}, machine ${Math.round(a.machineBusy * 100)}% busy; ${a.commits.toFixed(2)} commits and ${a.walSyncs.toFixed(2)} WAL syncs per event`;
    })
    .join(' | ');

export async function postgres(ctx: BenchContext): Promise<Row[]> {
  const events = ctx.quick ? 20_000 : 200_000;
  const server = await benchPostgres();
  try {
    const rows: Row[] = [];
    const template = await filledTemplate(server, events);
    try {
      for (const workers of [1, 2]) {
        const value = await confluoRate(server, template.name, workers, events, ctx);
        const baseline = await rawRate(server, template.name, workers, events);
        rows.push({
          scenario: 'postgres',
          metric: `processing events/s, ${workers} worker process${workers > 1 ? 'es' : ''}, ${events.toLocaleString('en-US')} events over ${KEYS.toLocaleString('en-US')} keys (${server.label})`,
          value,
          baseline,
          baselineName: `raw prepared inserts of the same rows, ${workers} connection${workers > 1 ? 's' : ''}`,
          target: { value: 5_000 },
          ...(workers === 1 ? { note: server.settings } : {}),
        });
      }
    } finally {
      await template.drop();
    }
    const claims = await claimCost(server);
    rows.push({
      scenario: 'postgres',
      metric: `ordered delivery claims: deliveries/s claimed 64 at a time and settled, through a backlog of ${BACKLOG.toLocaleString('en-US')} pending over ${(BACKLOG / 10).toLocaleString('en-US')} keys (${server.label})`,
      value: claims.ordered,
      baseline: claims.unordered,
      baselineName: 'the same loop with unordered claims',
      target: { ratio: 0.7 },
    });
    for (const shape of KEY_SHAPES) {
      const split = await rolesSplit(server, ctx, shape.keys, shape.name);
      rows.push({
        scenario: 'postgres',
        metric: `roles split (1 ingest, 2 process, 1 deliver): highest tried rate with p99 ≤ 100 ms, all delivered, ${shape.label} (${server.label})`,
        value: split.best,
        unit: 'events/s',
        target: { value: 3000 },
        note: splitNote(split.steps),
      });
    }
    const latencies = await endToEndLatency(server, ctx);
    const unit = 'ms';
    for (const latency of latencies) {
      const keys = latency.label;
      for (const p of ['p50', 'p95', 'p99'] as const) {
        rows.push({
          scenario: 'postgres',
          metric: `end-to-end ${p} latency at 1,000 events/s, ${keys} (${server.label})`,
          value: latency[p],
          unit,
          ...(p === 'p99' ? { target: { max: 50 }, ...p99Note(latency) } : {}),
        });
      }
      const a = latency.activity;
      const us = (n: number) => `${Math.round(n).toLocaleString('en-US')} µs`;
      rows.push(
        {
          scenario: 'postgres',
          metric: `where the time goes at 1,000 events/s, ${keys}: CPU per event in PostgreSQL's processes`,
          value: a.postgresCpu,
          unit: 'µs',
          note: `the hub ${us(a.hubCpu)}, the load generator and receiver ${us(a.benchCpu)}; the machine was ${Math.round(a.machineBusy * 100)}% busy`,
        },
        {
          scenario: 'postgres',
          metric: `where the time goes at 1,000 events/s, ${keys}: commits per event`,
          value: a.commits,
          note: `per event: ${a.walSyncs.toFixed(2)} WAL syncs, ${a.walRecords.toFixed(1)} WAL records, ${Math.round(a.walBytes).toLocaleString('en-US')} WAL bytes, ${a.written.toFixed(1)} rows written, ${Math.round(a.read).toLocaleString('en-US')} rows read`,
        },
      );
    }
    return rows;
  } finally {
    await server.stop();
  }
}
