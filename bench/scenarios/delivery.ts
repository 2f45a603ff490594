// 3. Delivery: deliveries/s from the store to a local keep-alive receiver
// through the dispatcher (lease, sign, send, classify, log the attempt),
// against the same requests sent by a bare undici pool.
import { join } from 'node:path';
import pino from 'pino';
import { Pool } from 'undici';
import { customer } from '../../examples/customer-sync/flow.js';
import { Dispatcher } from '../../src/delivery/dispatcher.js';
import { defineIntegration } from '../../src/delivery/integration.js';
import { restSink } from '../../src/delivery/sinks/rest-sink.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import type { NewDelivery } from '../../src/store/delivery-types.js';
import { startChild } from '../lib/child.js';
import type { BenchContext, Row } from '../lib/report.js';

const CONCURRENCY = 64;
const body = (i: number) => ({ key: `CC-${i}`, name: `n${i}`, email: 'c@example.com', plan: 'pro', status: 'active', version: 1 });

/** A store holding `count` pending deliveries of the `desk` integration, one per key. */
export async function pendingDeliveries(path: string, count: number): Promise<SqliteStore> {
  const store = new SqliteStore({ path });
  await store.init();
  await store.deliveries.registerIntegrations(['desk'], Date.now());
  for (let i = 0; i < count; i += 5000) {
    const deliveries: NewDelivery[] = Array.from({ length: Math.min(5000, count - i) }, (_, j) => ({
      deliveryId: `msg_bench_${i + j}`,
      integration: 'desk',
      kind: 'change',
      entity: 'customer',
      key: `CC-${i + j}`,
      eventId: `e${i + j}`,
      version: 1,
      request: { body: body(i + j) },
      status: 'pending',
      createdAt: Date.now(),
    }));
    await store.inbox.commitBatch({ records: [], audit: [], changes: [], deliveries, digestItems: [], processed: [], parked: [] });
  }
  return store;
}

/** The `desk` integration: signed PUTs to the receiver, 64 in flight; `done` after `count` successes. */
export function deskIntegration(url: string, count: number, done: () => void) {
  let succeeded = 0;
  return defineIntegration({
    name: 'desk',
    on: { entity: customer },
    map: () => ({ body: null }),
    sink: restSink({ url: `${url}/customers/{key}`, method: 'PUT', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
    concurrency: CONCURRENCY,
    onSuccess: () => {
      succeeded += 1;
      if (succeeded === count) done();
    },
  });
}

export async function delivery(ctx: BenchContext): Promise<Row[]> {
  const count = ctx.quick ? 5_000 : 50_000;
  const receiver = await startChild(['--import', 'tsx', 'bench/lib/bare-http.ts']);

  // Baseline: the same PUTs through a bare undici pool, 64 at a time.
  const pool = new Pool(receiver.url, { connections: CONCURRENCY });
  let next = 0;
  const baseStarted = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        const response = await pool.request({ path: `/customers/CC-${i}`, method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(i)) });
        await response.body.dump();
      }
    }),
  );
  const baseRate = count / ((performance.now() - baseStarted) / 1000);
  await pool.close();

  // Confluo: the same deliveries, pending in the store, sent by the dispatcher.
  const store = await pendingDeliveries(join(ctx.dir, 'delivery.db'), count);
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const desk = deskIntegration(receiver.url, count, () => finished());
  const dispatcher = new Dispatcher(store.deliveries, [desk], pino({ level: 'silent' }), { pollMs: 5 });
  const started = performance.now();
  dispatcher.start();
  await allDone;
  const rate = count / ((performance.now() - started) / 1000);
  await dispatcher.stop();
  await store.close();
  await receiver.stop();

  return [
    {
      scenario: 'delivery',
      metric: `deliveries/s, ${count.toLocaleString('en-US')} signed PUTs, ${CONCURRENCY} in flight`,
      value: rate,
      baseline: baseRate,
      baselineName: 'bare undici pool, same requests',
      target: { ratio: 0.5 },
    },
  ];
}
