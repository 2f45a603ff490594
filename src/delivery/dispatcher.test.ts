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

  it('claims once for a short batch, and again only when a delivery finishes', async () => {
    dir = tempDir();
    store = new SqliteStore({ path: join(dir.path, 'dispatch.db') });
    await store.init();
    await store.deliveries.registerIntegrations(['desk'], Date.now());
    const pending = (n: number) => ({ deliveryId: `d-${n}`, integration: 'desk', kind: 'change' as const, entity: 'customer', key: `K${n}`, eventId: `e-${n}`, version: 1, request: { body: { n } }, status: 'pending' as const, createdAt: Date.now() - 1 });
    await store.inbox.commitBatch({ records: [], audit: [], changes: [], deliveries: [pending(1), pending(2), pending(3)], digestItems: [], processed: [], parked: [] });

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
});
