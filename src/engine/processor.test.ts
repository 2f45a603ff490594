// The processor loop does not claim again after a batch short of its size:
// that batch took all there was, and new events wake it. A batch whose commit
// fails is split until the event at fault parks its key alone; a store that
// takes nothing is retried with a growing back-off, never in a hot loop.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { flow } from '../../examples/customer-sync/flow.js';
import { eventually, tempDir } from '../../test/support/index.js';
import { SqliteStore } from '../store/sqlite/index.js';
import { Processor } from './processor.js';

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

describe('Processor', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let processor: Processor | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await processor?.stop();
    processor = undefined;
    await store?.close();
    dir?.remove();
  });

  async function openStore(): Promise<{ path: string; db: Database.Database }> {
    dir = tempDir();
    const path = join(dir.path, 'process.db');
    store = new SqliteStore({ path });
    await store.init();
    return { path, db: new Database(path) };
  }

  const status = async (id: string) => (await store.records.getEvent(id))?.status;

  it('sleeps after a short batch until woken, then takes the new events', async () => {
    await openStore();
    let claims = 0;
    const claim = store.inbox.claimBatch.bind(store.inbox);
    store.inbox.claimBatch = async (limit) => ((claims += 1), claim(limit));
    const processed = async () => (await store.stats()).queued === 0;

    await store.inbox.accept([event('a', '1'), event('b', '2')]);
    // The nap runs on the fake clock: "no claim while it lasts" is checked by moving the clock.
    // vi.waitUntil, as it polls, moves it 50 ms a look, far short of the 60 s nap.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    processor = new Processor(store.inbox, flow, pino({ level: 'silent' }), { batchSize: 10, idlePollMs: 60_000 });
    processor.start();
    await vi.waitUntil(processed, { timeout: 10_000 });
    await vi.advanceTimersByTimeAsync(50_000);
    expect(claims).toBe(1);
    // The nap's timer stays on the fake clock, which stops moving here: only the wake can end it.
    vi.useRealTimers();
    await store.inbox.accept([event('c', '1')]);
    processor.wake();
    await eventually(processed, 10_000, 'the woken processor to take the new event');
    expect(claims).toBe(2);
    expect((await store.records.getRecord('customer', 'CC-1'))?.version).toBe(2);
  });

  it('parks only the key whose event the store refuses; the rest of the batch commits', async () => {
    const { db } = await openStore();
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON audit WHEN NEW.event_id = 'bad' BEGIN SELECT RAISE(ABORT, 'no room for this one'); END`);
    await store.inbox.accept([event('a1', '1'), event('b1', '2'), event('c1', '3'), event('bad', '3'), event('d1', '4'), event('c3', '3'), event('e1', '5')]);
    processor = new Processor(store.inbox, flow, pino({ level: 'silent' }), { batchSize: 100 });
    expect(await processor.runOnce()).toBe(7);
    for (const id of ['a1', 'b1', 'c1', 'd1', 'e1']) expect(await status(id)).toBe('processed');
    expect(await status('bad')).toBe('parked');
    expect(await status('c3')).toBe('queued'); // behind the parked event, in order
    expect(await store.inbox.listParked()).toMatchObject([
      { entity: 'customer', key: 'CC-3', eventId: 'bad', waiting: 2, error: { code: 'COMMIT_FAILED', message: expect.stringContaining('no room for this one') } },
    ]);
    expect((await store.records.getRecord('customer', 'CC-3'))?.version).toBe(1);
    db.close();
  });

  it('backs off, doubling the pause, while the store takes nothing, and parks nothing for it', async () => {
    const { db } = await openStore();
    db.exec(`CREATE TRIGGER full BEFORE UPDATE ON inbox BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    await store.inbox.accept([event('a1', '1'), event('b1', '2'), event('c1', '3')]);
    const claims: number[] = [];
    const claim = store.inbox.claimBatch.bind(store.inbox);
    store.inbox.claimBatch = async (limit) => (claims.push(performance.now()), claim(limit));
    processor = new Processor(store.inbox, flow, pino({ level: 'silent' }), { batchSize: 100, idlePollMs: 10, errorBackoffMs: 20 });
    processor.start();
    await eventually(() => claims.length >= 5, 10_000, 'five failed rounds');
    const gaps = claims.slice(1, 5).map((at, i) => at - (claims[i] as number));
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(20 * 2 ** i - 2));
    expect(await store.inbox.listParked()).toEqual([]);
    db.exec('DROP TRIGGER full');
    await eventually(async () => (await store.stats()).queued === 0, 10_000, 'the backlog to drain once the store takes writes');
    db.close();
  });

  it('keeps other keys flowing past an event whose key no longer reads back as written', async () => {
    const { db } = await openStore();
    // Accepted by a store before the door refused lone surrogates. Node 20 writes the surrogate's
    // own bytes, which read back as other characters, so the key parks; Node 24 writes U+FFFD for
    // it, in the row and in every lookup alike, so the key reads back consistently and is processed.
    const broken = { ...event('x1', '9'), key: 'k\ud800' };
    const replaced = (db.prepare('SELECT hex(?) AS bytes').get(broken.key) as { bytes: string }).bytes === '6BEFBFBD';
    db.close();
    await store.inbox.accept([broken]);
    processor = new Processor(store.inbox, flow, pino({ level: 'silent' }), { batchSize: 100, idlePollMs: 10, errorBackoffMs: 10 });
    processor.start();
    await eventually(async () => (await status('x1')) !== 'queued', 10_000, 'the first broken event');
    await store.inbox.accept([{ ...broken, eventId: 'x2' }, event('ok', '1')]);
    processor.wake();
    await eventually(async () => (await status('ok')) === 'processed', 10_000, 'the good key to be processed');
    await eventually(async () => (await status('x2')) === (replaced ? 'processed' : 'parked'), 10_000, 'the broken key to settle');
  });
});
