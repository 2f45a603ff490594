// `metadata.wait` when the event is applied by another process: an ingest-only
// hub and a process-only hub on one PostgreSQL database. The answer must come
// from the other process's commit (a notification naming the event), not from
// the wait timing out.
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/store/postgres/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { failing, ledgerFlow } from './support/flows.js';
import { envelope, startTestHub, type TestHub } from './support/index.js';

const hubs: TestHub[] = [];
const databases: TestDatabase[] = [];

afterEach(async () => {
  failing.clear();
  for (const hub of hubs.splice(0)) await hub.close();
  for (const db of databases.splice(0)) await db.drop();
});

async function pair(): Promise<{ ingest: TestHub; worker: TestHub }> {
  const db = await createTestDatabase('pg_wait');
  databases.push(db);
  const open = async () => {
    const store = new PostgresStore({ url: db.url });
    await store.init();
    return store;
  };
  // Polling far slower than the wait timeout: only a notification can wake the worker and answer the wait in time.
  const worker = await startTestHub({ flow: ledgerFlow, store: await open(), acceptEvents: false, processor: { idlePollMs: 60_000 } });
  hubs.push(worker);
  const ingest = await startTestHub({ flow: ledgerFlow, store: await open(), process: false, deliver: false, pull: false, ingest: { waitTimeoutMs: 5_000 } });
  hubs.push(ingest);
  return { ingest, worker };
}

describe('wait across processes on PostgreSQL', () => {
  it('answers a wait with the outcome another process committed, processed or parked', { timeout: 30_000 }, async () => {
    const { ingest, worker } = await pair();
    failing.add('b1');
    const post = (id: string, label: string) => envelope('ledger:entry:posted', { id, amount: 10, label }, { metadata: { wait: true } });

    const started = performance.now();
    const processed = await ingest.send(post('A', 'a1'));
    expect(processed.body.payload).toEqual({ status: 'processed', eventId: expect.any(String), entity: 'account', key: 'A', version: 1, changedParts: ['ledger'] });
    // Answered by the worker's commit, well before the 5 s wait would run out.
    expect(performance.now() - started).toBeLessThan(4_000);

    const parked = await ingest.send(post('B', 'b1'));
    expect(parked.body.payload).toMatchObject({ status: 'parked', entity: 'account', key: 'B', error: { code: 'RULE_FAILED' } });

    expect((await worker.get('/api/v1/entities/account/A')).body).toMatchObject({ version: 1, parts: { ledger: { history: ['a1'] } } });
  });
});
