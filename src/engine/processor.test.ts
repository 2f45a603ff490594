// The processor loop does not claim again after a batch short of its size:
// that batch took all there was, and new events wake it.
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { flow } from '../../examples/customer-sync/flow.js';
import { tempDir } from '../../test/support.js';
import { SqliteStore } from '../store/sqlite/index.js';
import { Processor } from './processor.js';

describe('Processor', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  afterEach(async () => {
    await store?.close();
    dir?.remove();
  });

  it('sleeps after a short batch until woken, then takes the new events', async () => {
    dir = tempDir();
    store = new SqliteStore({ path: join(dir.path, 'process.db') });
    await store.init();
    const event = (id: string, number: string) => ({
      eventId: id,
      name: 'crm:contact:updated',
      version: 1,
      flowId: `f-${id}`,
      entity: 'customer',
      key: `CC-${number}`,
      envelope: { payload: { documentType: 'CC', documentNumber: number, name: `n${id}`, email: `c${number}@example.com` }, identity: {}, metadata: {} },
      acceptedAt: Date.now(),
    });
    let claims = 0;
    const claim = store.claimBatch.bind(store);
    store.claimBatch = async (limit) => ((claims += 1), claim(limit));
    const processed = async () => (await store.stats()).queued === 0;

    await store.accept([event('a', '1'), event('b', '2')]);
    const processor = new Processor(store, flow, pino({ level: 'silent' }), { batchSize: 10, idlePollMs: 60_000 });
    processor.start();
    try {
      while (!(await processed())) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(claims).toBe(1);
      await store.accept([event('c', '1')]);
      processor.wake();
      while (!(await processed())) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(claims).toBe(2);
      expect((await store.getRecord('customer', 'CC-1'))?.version).toBe(2);
    } finally {
      await processor.stop();
    }
  });
});
