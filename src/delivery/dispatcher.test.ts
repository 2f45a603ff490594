// The dispatcher loop does not ask the store again when its last claim came
// back short: nothing more is due until a delivery finishes, new work arrives
// (both wake it) or the poll comes round.
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { customer } from '../../examples/customer-sync/flow.js';
import { eventually, tempDir } from '../../test/support/index.js';
import { SqliteStore } from '../store/sqlite/index.js';
import { Dispatcher } from './dispatcher.js';
import { defineIntegration } from './integration.js';
import { functionSink } from './sinks/function-sink.js';

describe('Dispatcher', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  afterEach(async () => {
    vi.useRealTimers();
    await store?.close();
    dir?.remove();
  });

  /** A store with `count` pending deliveries to integration "desk", one key each. */
  async function openWithPending(count: number): Promise<void> {
    dir = tempDir();
    store = new SqliteStore({ path: join(dir.path, 'dispatch.db') });
    await store.init();
    await store.deliveries.registerIntegrations(['desk'], Date.now());
    const pending = (n: number) => ({ deliveryId: `d-${n}`, integration: 'desk', kind: 'change' as const, entity: 'customer', key: `K${n}`, eventId: `e-${n}`, version: 1, request: { body: { n } }, status: 'pending' as const, createdAt: Date.now() - 1 });
    const deliveries = Array.from({ length: count }, (_, i) => pending(i + 1));
    await store.inbox.commitBatch({ records: [], audit: [], changes: [], deliveries, digestItems: [], processed: [], parked: [] });
  }

  /** Settles wait until released, as on a slow database under load; `started` counts those begun. */
  function holdSettles(): { release: () => void; started: () => number } {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const settle = store.deliveries.settleAttempts.bind(store.deliveries);
    let started = 0;
    store.deliveries.settleAttempts = async (...args) => ((started += 1), await held, settle(...args));
    return { release: () => release(), started: () => started };
  }

  it('claims once for a short batch, and again only when a delivery finishes', async () => {
    await openWithPending(3);

    let claims = 0;
    const claim = store.deliveries.claimDeliveries.bind(store.deliveries);
    store.deliveries.claimDeliveries = async (...args) => ((claims += 1), claim(...args));
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let sent = 0;
    const desk = defineIntegration({ name: 'desk', on: { entity: customer }, map: () => ({ body: null }), concurrency: 8, sink: functionSink(async () => void ((sent += 1), await held)) });
    // The poll's nap (and the sink's 15 s timeout) run on the fake clock: "no second claim" is
    // checked by moving it; vi.waitUntil moves it 50 ms a look as it polls.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const dispatcher = new Dispatcher(store.deliveries, [desk], pino({ level: 'silent' }), { pollMs: 60_000 });
    dispatcher.start();
    try {
      await vi.waitUntil(() => sent === 3, { timeout: 10_000 });
      // All three in flight, five slots free: a second claim now could only come back empty.
      await vi.advanceTimersByTimeAsync(5_000);
      expect(claims).toBe(1);
      // The nap's timer stays on the fake clock, which stops moving here: only a finished delivery can end it.
      vi.useRealTimers();
      release();
      await eventually(async () => (await store.deliveries.listDeliveries({ status: 'succeeded', limit: 10 })).length === 3, 10_000, 'the released deliveries to succeed');
      expect(claims).toBeGreaterThan(1);
    } finally {
      release();
      await dispatcher.stop();
    }
  });

  it('gives a concurrency slot back when the answer arrives, before the attempt settles, up to four unsettled per slot', async () => {
    await openWithPending(6);

    const settles = holdSettles();
    let inFlight = 0;
    let most = 0;
    let sent = 0;
    const desk = defineIntegration({
      name: 'desk',
      on: { entity: customer },
      map: () => ({ body: null }),
      concurrency: 1,
      sink: functionSink(async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight -= 1;
        sent += 1;
      }),
    });
    const dispatcher = new Dispatcher(store.deliveries, [desk], pino({ level: 'silent' }), { pollMs: 20 });
    dispatcher.start();
    try {
      // One request at a time, yet four answered attempts wait on their settles at once; the fifth
      // is not claimed until one of them settles.
      await eventually(() => sent === 4, 10_000, 'four attempts answered while none has settled');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(sent).toBe(4);
      expect(most).toBe(1);
      settles.release();
      await eventually(async () => (await store.deliveries.listDeliveries({ status: 'succeeded', limit: 10 })).length === 6, 10_000, 'all six to succeed');
      expect(most).toBe(1);
    } finally {
      settles.release();
      await dispatcher.stop();
    }
  });

  it('keeps the slot of a failed attempt until its settle: a 410 disables the integration before anything more is sent', async () => {
    await openWithPending(3);
    const settles = holdSettles();
    let sent = 0;
    const desk = defineIntegration({ name: 'desk', on: { entity: customer }, map: () => ({ body: null }), concurrency: 1, sink: functionSink(async () => ((sent += 1), { status: 410 })) });
    const dispatcher = new Dispatcher(store.deliveries, [desk], pino({ level: 'silent' }), { pollMs: 20 });
    dispatcher.start();
    try {
      await eventually(() => settles.started() === 1, 10_000, 'the 410 attempt to reach its settle');
      // Several polls go by while the settle waits: the slot stays taken.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(sent).toBe(1);
      settles.release();
      await eventually(async () => (await store.deliveries.listIntegrationStates()).some((i) => i.name === 'desk' && i.state === 'disabled'), 10_000, 'the integration to be disabled');
      expect(sent).toBe(1);
    } finally {
      settles.release();
      await dispatcher.stop();
    }
  });
});
