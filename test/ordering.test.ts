// Guarantee 3, its order half: events of one key are applied in the order they
// were accepted, whatever the batch size and however keys interleave.
import { join } from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Processor } from '../src/engine/processor.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { createEventClient } from '../src/protocol/client.js';
import { API_KEY, eventually, startTestHub, tempDir, type TestHub } from './support/index.js';
import { ledgerFlow } from './support/flows.js';

const KEYS = 50;
const PER_KEY = 200;

describe('per-key order over HTTP', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ flow: ledgerFlow, processor: { batchSize: 97 } });
  });
  afterAll(async () => {
    await t.close();
  });

  it(`applies ${KEYS} keys × ${PER_KEY} events, sent concurrently without waiting, each key in send order`, async () => {
    const dispatcher = new Agent({ connections: 16 });
    const client = createEventClient({ url: `${t.url}/events`, apiKey: API_KEY, dispatcher });
    const keys = Array.from({ length: KEYS }, (_, k) => `K${k}`);
    await Promise.all(
      keys.map(async (key) => {
        for (let i = 0; i < PER_KEY; i++) {
          const result = await client.send('ledger:entry:posted', 1, { id: key, amount: i, label: `${key}-${i}` }, { id: `${key}-${i}` });
          if (result.kind !== 'success') throw new Error(`send ${key}-${i} failed: ${JSON.stringify(result)}`);
        }
      }),
    );
    await dispatcher.close();

    await eventually(async () => (await t.get('/healthz')).body.queued === 0, 30_000, 'processing to finish');

    const labels = (key: string) => Array.from({ length: PER_KEY }, (_, i) => `${key}-${i}`);
    for (const key of keys) {
      const record = (await t.get(`/api/v1/entities/account/${key}`)).body;
      expect(record.version).toBe(PER_KEY);
      expect(record.parts.ledger).toEqual({ balance: (PER_KEY * (PER_KEY - 1)) / 2, entries: PER_KEY, last: `${key}-${PER_KEY - 1}`, history: labels(key) });

      const audit = (await t.get(`/api/v1/entities/account/${key}/audit?limit=1000`)).body.items as Array<{ field: string; newValue: unknown; eventId: string; version: number }>;
      const lasts = audit.filter((a) => a.field === 'last');
      expect(lasts.map((a) => a.newValue)).toEqual(labels(key));
      expect(lasts.map((a) => a.eventId)).toEqual(labels(key));
      expect(lasts.map((a) => a.version)).toEqual(labels(key).map((_, i) => i + 1));
    }
  });
});

describe('per-key order in the processor (property)', () => {
  it('ends with every record equal to applying its events one by one, for any interleaving and batch size', async () => {
    const dir = tempDir();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd'), amount: fc.integer({ min: -50, max: 50 }) }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 16 }),
        async (events, batchSize) => {
          run += 1;
          const store = new SqliteStore({ path: join(dir.path, `p${run}.db`), synchronous: 'normal' });
          await store.init();
          await store.inbox.accept(
            events.map((e, i) => ({
              eventId: `e${i}`,
              name: 'ledger:entry:posted',
              version: 1,
              flowId: 'f',
              entity: 'account',
              key: e.key,
              envelope: { payload: { id: e.key, amount: e.amount, label: `e${i}` } },
              acceptedAt: i,
            })),
          );
          const processor = new Processor(store.inbox, ledgerFlow, pino({ level: 'silent' }), { batchSize });
          while ((await processor.runOnce()) > 0);
          for (const key of ['a', 'b', 'c', 'd']) {
            const mine = events.map((e, i) => ({ ...e, label: `e${i}` })).filter((e) => e.key === key);
            const record = await store.records.getRecord('account', key);
            if (mine.length === 0) {
              expect(record).toBeUndefined();
              continue;
            }
            expect(record?.version).toBe(mine.length);
            expect(record?.parts.ledger).toEqual({ balance: mine.reduce((s, e) => s + e.amount, 0), entries: mine.length, last: mine.at(-1)!.label, history: mine.map((e) => e.label) });
          }
          await store.close();
        },
      ),
      { numRuns: 40 },
    );
    dir.remove();
  });
});
