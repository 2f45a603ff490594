// 2. Processing: events/s through rule → record → audit → change → delivery
// rows from a pre-filled inbox, against the storage limit: raw inserts of the
// same rows into the same schema with prepared statements in batched
// transactions (no validation, no rules, no diffs).
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { flow } from '../../examples/customer-sync/flow.js';
import { integrationsFromEnv } from '../../examples/customer-sync/integrations.js';
import { createOutbox } from '../../src/delivery/outbox.js';
import { Processor } from '../../src/engine/processor.js';
import { createAnnouncer } from '../../src/health/announcer.js';
import { newProcessId, ProcessBeats } from '../../src/hub/process-beats.js';
import { HubMetrics } from '../../src/observability/metrics.js';
import { Checkpointer } from '../../src/store/sqlite/checkpointer.js';
import { identifiedFlow } from '../lib/identified-flow.js';
import { drain, filledStore, median } from '../lib/processing.js';
import type { Flow } from '../../src/flow/flow.js';
import type { BenchContext, Row } from '../lib/report.js';

const BATCH = 1000; // the processor's default batch size


export async function processing(ctx: BenchContext): Promise<Row[]> {
  const events = ctx.quick ? 20_000 : 200_000;
  const keys = 10_000;

  // Confluo: the real processor, with the example's support-desk integration writing one delivery per change;
  // alternately without and with the process's heartbeat (a beat a second, and the look for silent processes) beside it,
  // and with the metrics the hub counts after each commit (as createHub wires them).
  const integrations = integrationsFromEnv({ SUPPORT_DESK_URL: 'http://127.0.0.1:9', SUPPORT_DESK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
  /** Events/s of one run, and the seconds it spent in its metrics hook. */
  const run = async (name: string, heartbeats: boolean, metrics = false, runFlow: Flow = flow) => {
    let hookMs = 0;
    const store = await filledStore(join(ctx.dir, `${name}.db`), events, keys);
    const counted = metrics
      ? new HubMetrics({ store, events: [...flow.events.values()].map((t) => t.name), isOwnHandler: () => false, integrations: integrations.map((i) => i.name), monitors: [], log: pino({ level: 'silent' }) })
      : undefined;
    const processor = new Processor(store.inbox, runFlow, pino({ level: 'silent' }), {
      batchSize: BATCH,
      outbox: createOutbox(integrations),
      // Timed: the run's own time in the hook is its cost, measured where it is paid.
      ...(counted
        ? {
            onResults: (results, batch) => {
              const started = performance.now();
              counted.committed(results, batch);
              hookMs += performance.now() - started;
            },
          }
        : {}),
    });
    const beats = heartbeats
      ? new ProcessBeats(store.health, ['process'], () => [processor.health()], createAnnouncer(integrations), pino({ level: 'silent' }), { id: newProcessId() })
      : undefined;
    await beats?.start();
    const rate = await drain(processor, events);
    await beats?.stop();
    await store.close();
    return { rate, hookSeconds: hookMs / 1000 };
  };
  const without: number[] = [];
  const withBeats: number[] = [];
  const withMetrics: number[] = [];
  /** Per metrics run: the events/s it would have made without the time spent in its metrics hook. */
  const lessHooks: number[] = [];
  const withIdentifiers: number[] = [];
  for (let round = 0; round < 3; round++) {
    without.push((await run(`processing-${round}`, false)).rate);
    withBeats.push((await run(`processing-beats-${round}`, true)).rate);
    const counted = await run(`processing-metrics-${round}`, false, true);
    withMetrics.push(counted.rate);
    lessHooks.push(events / (events / counted.rate - counted.hookSeconds));
    withIdentifiers.push((await run(`processing-identifiers-${round}`, false, false, identifiedFlow)).rate);
  }
  const confluoRate = median(without);
  const heartbeatRate = median(withBeats);
  const metricsRate = median(withMetrics);

  // The storage limit: the same rows written straight into the same schema.
  const baseStore = await filledStore(join(ctx.dir, 'raw.db'), events, keys);
  await baseStore.close();
  const db = new Database(join(ctx.dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL'); // as the processor's own commits (see SqliteStoreOptions.synchronous)
  // And with the store's checkpoint thread, so the limit does not pay for checkpoints Confluo no longer pays for.
  const checkpointer = new Checkpointer(db, join(ctx.dir, 'raw.db'));
  const queued = db.prepare(`SELECT seq, event_id, key FROM inbox WHERE status = 'queued' ORDER BY seq LIMIT ?`);
  const upsert = db.prepare(
    `INSERT INTO records (entity, key, version, parts, created_at, updated_at) VALUES ('customer', ?, 1, ?, ?, ?)
     ON CONFLICT (entity, key) DO UPDATE SET version = version + 1, parts = excluded.parts, updated_at = excluded.updated_at`,
  );
  const audit = db.prepare(`INSERT INTO audit (entity, key, version, part, field, old_value, new_value, rule, event_id, flow_id, at) VALUES ('customer', ?, 1, 'contact', ?, NULL, ?, 'r', ?, 'f', ?)`);
  const change = db.prepare(`INSERT INTO changes (entity, key, version, event_id, flow_id, rule, changed_parts, diffs, record, at) VALUES ('customer', ?, ?, ?, 'f', 'r', '["contact"]', ?, ?, ?)`);
  const delivery = db.prepare(
    `INSERT INTO deliveries (delivery_id, integration, kind, entity, key, event_id, version, request, status, cycle_started_at, next_attempt_at, created_at, updated_at) VALUES (?, 'support-desk', 'change', 'customer', ?, ?, 1, ?, 'pending', ?, ?, ?, ?)`,
  );
  const mark = db.prepare(`UPDATE inbox SET status = 'processed', processed_at = ?, result = '{}' WHERE seq = ?`);
  const versions = new Map<string, number>();
  const rawStarted = performance.now();
  let rawDone = 0;
  const writeBatch = db.transaction((rows: Array<{ seq: number; event_id: string; key: string }>) => {
    const now = Date.now();
    for (const row of rows) {
      const version = (versions.get(row.key) ?? 0) + 1;
      versions.set(row.key, version);
      const parts = `{"contact":{"name":"n${row.seq}","email":"c@example.com"}}`;
      upsert.run(row.key, parts, now, now);
      audit.run(row.key, 'name', `"n${row.seq}"`, row.event_id, now);
      audit.run(row.key, 'email', '"c@example.com"', row.event_id, now);
      change.run(row.key, version, row.event_id, '[{"part":"contact","field":"name","newValue":"x"}]', parts, now);
      delivery.run(`d-${row.seq}`, row.key, row.event_id, '{"body":{"key":"x"}}', now, now, now, now);
      mark.run(now, row.seq);
    }
  });
  for (;;) {
    const rows = queued.all(BATCH) as Array<{ seq: number; event_id: string; key: string }>;
    if (rows.length === 0) break;
    writeBatch.immediate(rows);
    rawDone += rows.length;
  }
  const rawRate = rawDone / ((performance.now() - rawStarted) / 1000);
  await checkpointer.stop();
  db.close();

  return [
    { scenario: 'processing', metric: `events/s, ${events.toLocaleString('en-US')} events over ${keys.toLocaleString('en-US')} keys`, value: confluoRate, baseline: rawRate, baselineName: 'raw prepared inserts of the same rows', target: { value: 20_000, ratio: 0.25 } },
    { scenario: 'processing', metric: 'events/s with heartbeats on (median of 3, alternating)', value: heartbeatRate, baseline: confluoRate, baselineName: 'the same without heartbeats (median of 3)', target: { ratio: 0.98 } },
    {
      scenario: 'processing',
      metric: 'events/s with metrics on (median of 3, alternating)',
      value: metricsRate,
      baseline: confluoRate,
      baselineName: 'the same with metrics off (median of 3)',
      note: 'separate runs of one build differ by several percent here: the row below is the measure of the metrics\' cost',
    },
    {
      scenario: 'processing',
      metric: 'events/s with metrics on, against the same runs less the time spent in the metrics hook (timed in the run; median of 3)',
      value: metricsRate,
      baseline: median(lessHooks),
      baselineName: 'the same runs without the hook\'s time',
      target: { ratio: 0.97 },
    },
    {
      scenario: 'processing',
      metric: 'events/s with an identifier declared (email from contact.email, each key keeping its email; median of 3, alternating)',
      value: median(withIdentifiers),
      baseline: confluoRate,
      baselineName: 'the same without identifiers (median of 3)',
    },
  ];
}
