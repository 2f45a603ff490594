// Many workers on one PostgreSQL: claims are per key and leased, so two
// workers never hold the same key, each key's events apply in order, and a
// dead worker's keys are taken over once its lease runs out.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ledgerFlow } from '../../../test/support/flows.js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/postgres.js';
import { Processor } from '../../engine/processor.js';
import { StaleBatchError } from '../../errors/index.js';
import { recordId, type ClaimedBatch } from '../store.js';
import type { BatchCommit, NewInboxEvent, StoredRecord } from '../types.js';
import { transaction } from './connection.js';
import { insertInbox } from './inbox-insert.js';
import { PostgresStore } from './postgres-store.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('pg_workers');
  const store = new PostgresStore({ url: db.url });
  await store.init();
  await store.close();
});
afterAll(async () => {
  await db?.drop();
});

let n = 0;
const event = (key: string): NewInboxEvent => {
  n += 1;
  return { eventId: `w-${n}`, name: 'crm:contact:updated', version: 1, flowId: `f-${n}`, entity: 'customer', key, envelope: { n }, acceptedAt: 1_700_000_000_000 + n };
};

/**
 * What a processor would commit for a claimed batch: every event appended to its key's record
 * (`parts.log.ids`), so the record shows the order events were applied in.
 */
function apply(batch: ClaimedBatch, at: number): BatchCommit {
  const working = new Map(batch.records);
  const commit: BatchCommit = { records: [], audit: [], changes: [], deliveries: [], digestItems: [], processed: [], parked: [] };
  for (const e of batch.events) {
    const id = recordId(e.entity, e.key);
    const current = working.get(id);
    const ids = [...((current?.parts.log?.ids as string[] | undefined) ?? []), e.eventId];
    const next: StoredRecord = { entity: e.entity, key: e.key, version: (current?.version ?? 0) + 1, parts: { log: { ids } }, createdAt: current?.createdAt ?? at, updatedAt: at };
    working.set(id, next);
    commit.processed.push({ seq: e.seq, eventId: e.eventId, result: { entity: e.entity, key: e.key, version: next.version, changedParts: ['log'] }, at });
  }
  for (const [id, record] of working) {
    if (record !== batch.records.get(id)) commit.records.push({ record, expectedVersion: batch.records.get(id)?.version ?? 0 });
  }
  return commit;
}

describe('PostgresStore with several workers', () => {
  const opened: PostgresStore[] = [];
  const open = async (owner: string, claimLeaseMs = 30_000) => {
    const store = new PostgresStore({ url: db.url, owner, claimLeaseMs });
    await store.init();
    opened.push(store);
    return store;
  };
  beforeEach(async () => {
    // Each test starts with no queued events and no leases left by the one before.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('DELETE FROM inbox; DELETE FROM records; DELETE FROM inbox_leases; DELETE FROM parked;');
    await client.end();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  it('never hands two workers the same key at once, and applies every key in accept order', async () => {
    const workers = await Promise.all(['A', 'B', 'C'].map((owner) => open(owner)));
    const keys = Array.from({ length: 8 }, (_, i) => `ORD-${i}`);
    const accepted = new Map<string, string[]>(keys.map((k) => [k, []]));
    const holding = new Map<string, string>();
    const batches = new Map<string, number>();
    let producing = true;

    const produce = async () => {
      for (let round = 0; round < 20; round += 1) {
        const events = Array.from({ length: 12 }, () => event(keys[Math.floor(Math.random() * keys.length)]!));
        await workers[0]!.inbox.accept(events);
        for (const e of events) accepted.get(e.key)!.push(e.eventId);
        await sleep(Math.random() * 5);
      }
      producing = false;
    };
    const work = async (store: PostgresStore) => {
      for (;;) {
        const batch = await store.inbox.claimBatch(10);
        if (batch.events.length === 0) {
          if (!producing && (await store.stats()).queued === 0) return;
          await sleep(2);
          continue;
        }
        batches.set(store.owner, (batches.get(store.owner) ?? 0) + 1);
        const claimedKeys = new Set(batch.events.map((e) => e.key));
        for (const key of claimedKeys) {
          expect(holding.get(key), `${store.owner} claimed ${key} while ${holding.get(key)} held it`).toBeUndefined();
          holding.set(key, store.owner);
        }
        const commit = apply(batch, Date.now());
        await sleep(Math.random() * 8); // applying takes a while; the others claim meanwhile
        for (const key of claimedKeys) holding.delete(key);
        await store.inbox.commitBatch(commit); // a StaleBatchError here means two workers raced for a key
      }
    };
    await Promise.all([produce(), ...workers.map(work)]);

    for (const key of keys) {
      const record = await workers[0]!.records.getRecord('customer', key);
      expect(record?.parts.log?.ids, key).toEqual(accepted.get(key));
    }
    expect([...batches.keys()].sort()).toEqual(['A', 'B', 'C']);
  });

  it('never lets a key’s later event be claimed while an earlier one is still committing', async () => {
    const [store, worker] = [await open('writer'), await open('worker')];
    const [early, late] = [event('RACE-1'), event('RACE-1')];
    // A slow accept: its event has drawn the smaller seq but is not committed yet.
    let commitEarly: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (commitEarly = resolve));
    const pool = new pg.Pool({ connectionString: db.url });
    pool.on('error', () => undefined);
    let inserted: () => void = () => undefined;
    const drawn = new Promise<void>((resolve) => (inserted = resolve));
    const slow = transaction(pool, async (client) => {
      await insertInbox(client, [early]);
      inserted();
      await gate;
    });
    try {
      await drawn;
      const fast = store.inbox.accept([late]);
      await Promise.race([fast, sleep(300)]); // with nothing holding it back, it commits well within this
      expect((await worker.inbox.claimBatch(10)).events).toEqual([]);
      commitEarly();
      await Promise.all([slow, fast]);
    } finally {
      commitEarly();
      await pool.end();
    }
    const batch = await worker.inbox.claimBatch(10);
    expect(batch.events.map((e) => e.eventId)).toEqual([early.eventId, late.eventId]);
    expect(batch.events[0]!.seq).toBeLessThan(batch.events[1]!.seq);
  });

  it('takes over a killed worker’s keys once its lease runs out, in order, with events that came meanwhile', async () => {
    const [killed, survivor] = [await open('killed', 300), await open('survivor', 300)];
    const [k1, k2, other] = [event('KILL-1'), event('KILL-1'), event('KILL-2')];
    await killed.inbox.accept([k1, k2, other]);
    expect((await killed.inbox.claimBatch(2)).events.map((e) => e.eventId)).toEqual([k1.eventId, k2.eventId]);
    await killed.close(); // dies with the batch in hand: its leases stay behind

    const first = await survivor.inbox.claimBatch(10);
    expect(first.events.map((e) => e.eventId)).toEqual([other.eventId]);
    await survivor.inbox.commitBatch(apply(first, 1));
    const k3 = event('KILL-1');
    await survivor.inbox.accept([k3]);
    expect((await survivor.inbox.claimBatch(10)).events).toEqual([]);

    await sleep(400);
    const taken = await survivor.inbox.claimBatch(10);
    expect(taken.events.map((e) => e.eventId)).toEqual([k1.eventId, k2.eventId, k3.eventId]);
    await survivor.inbox.commitBatch(apply(taken, 2));
    expect((await survivor.records.getRecord('customer', 'KILL-1'))?.parts.log?.ids).toEqual([k1.eventId, k2.eventId, k3.eventId]);
  });

  it('refuses the late commit of a worker whose lease ran out and was taken over', async () => {
    const [slow, fast] = [await open('slow', 300), await open('fast', 300)];
    const e1 = event('SLOW-1');
    await slow.inbox.accept([e1]);
    const stale = await slow.inbox.claimBatch(10);
    await sleep(400);
    const taken = await fast.inbox.claimBatch(10);
    expect(taken.events.map((e) => e.eventId)).toEqual([e1.eventId]);

    await expect(slow.inbox.commitBatch(apply(stale, 1))).rejects.toThrow(StaleBatchError);
    expect(await slow.records.getRecord('customer', 'SLOW-1')).toBeUndefined();
    expect((await slow.records.getEvent(e1.eventId))?.status).toBe('queued');
    await fast.inbox.commitBatch(apply(taken, 2));
    expect((await fast.records.getEvent(e1.eventId))?.status).toBe('processed');
  });

  it('lets a worker commit after its lease ran out when nobody took the key over', async () => {
    const lone = await open('lone', 100);
    const e1 = event('LONE-1');
    await lone.inbox.accept([e1]);
    const batch = await lone.inbox.claimBatch(10);
    await sleep(200);
    await lone.inbox.commitBatch(apply(batch, 1));
    expect((await lone.records.getEvent(e1.eventId))?.status).toBe('processed');
  });

  it('claims ahead past the batch in hand: its keys are skipped, and a key taken comes with its earlier events', async () => {
    const [store, other] = [await open('ahead'), await open('other')];
    const [d1, a2, b3, a4, d5, c6, a7] = ['D', 'A', 'B', 'A', 'D', 'C', 'A'].map((k) => event(`AH-${k}`));
    for (const e of [d1!, a2!, b3!, a4!, d5!, c6!, a7!]) await store.inbox.accept([e]); // one by one: seqs in this order
    // Another worker holds D while this one claims its batch in hand: A (up to a4) and B.
    expect((await other.inbox.claimBatch(1)).events.map((e) => e.eventId)).toEqual([d1!.eventId]);
    const inHand = await store.inbox.claimBatch(3);
    expect(inHand.events.map((e) => e.eventId)).toEqual([a2!.eventId, b3!.eventId, a4!.eventId]);
    // D's worker stops; the claim ahead starts after a4. A's a7 is past it, but A is in hand.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(`DELETE FROM inbox_leases WHERE owner = 'other'`);
    } finally {
      await client.end();
    }
    const afterSeq = Math.max(...inHand.events.map((e) => e.seq));
    const ahead = await store.inbox.claimAhead!(10, afterSeq);
    expect(ahead.events.map((e) => e.eventId)).toEqual([d1!.eventId, d5!.eventId, c6!.eventId]);
    // A plain claim by the same owner would hand A out again: the claim ahead is what skips it.
    expect((await store.inbox.claimBatch(10)).events.map((e) => e.eventId)).toContain(a7!.eventId);
  });

  it('a processor that claimed ahead applies that batch at stop, leaving no key leased', async () => {
    const store = await open('stopper');
    let aheadClaims = 0;
    const inbox = Object.assign(Object.create(store.inbox) as typeof store.inbox, {
      claimAhead: (limit: number, afterSeq: number) => {
        aheadClaims += 1;
        return store.inbox.claimAhead!(limit, afterSeq);
      },
    });
    const keys = Array.from({ length: 40 }, (_, i) => `STOP-${i}`);
    const events = keys.flatMap((key) => [1, 2, 3].map(() => ({ ...event(key), entity: 'account', name: 'ledger:entry:posted' })));
    await store.inbox.accept(events.map((e) => ({ ...e, envelope: { payload: { id: e.key, amount: 1, label: e.eventId } } })));
    const processor = new Processor(inbox, ledgerFlow, pino({ level: 'silent' }), { batchSize: 5, idlePollMs: 5 });
    processor.start();
    while (aheadClaims < 3) await sleep(1);
    await processor.stop();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM inbox_leases WHERE owner = 'stopper'`).finally(() => client.end());
    expect(Number(rows[0]!.n)).toBe(0);
    // Whatever was applied was applied in order, and nothing is parked.
    for (const key of keys) {
      const record = await store.records.getRecord('account', key);
      const ids = events.filter((e) => e.key === key).map((e) => e.eventId);
      expect(record?.parts.ledger?.history ?? []).toEqual(ids.slice(0, record?.version ?? 0));
    }
    expect(await store.inbox.listParked()).toEqual([]);
  });

  it('a key in hand that gets a new event is not passed over while the queue stays full', async () => {
    const store = await open('no-starving');
    const posting = (key: string) => {
      const e = event(key);
      return { ...e, entity: 'account', name: 'ledger:entry:posted', envelope: { payload: { id: e.key, amount: 1, label: e.eventId } } };
    };
    // The first batch holds A to D; A's second entry comes right after them, then 40 other accounts.
    const first = ['A', 'B', 'C', 'D'].map((k) => posting(`NS-${k}`));
    const late = posting('NS-A');
    const rest = Array.from({ length: 40 }, (_, i) => posting(`NS-R${i}`));
    for (const e of [...first, late, ...rest]) await store.inbox.accept([e]);
    const batches: string[][] = [];
    const processor = new Processor(store.inbox, ledgerFlow, pino({ level: 'silent' }), {
      batchSize: 4,
      idlePollMs: 5,
      onResults: (results) => void batches.push(results.map((r) => r.eventId)),
    });
    processor.start();
    try {
      while ((await store.inbox.queued()) > 0) await sleep(5);
    } finally {
      await processor.stop();
    }
    // A claim ahead skips A while A is in hand; the plain claim after it starts from the head again.
    // A chain of claims ahead would reach A's entry only once the other 40 were done.
    const at = batches.findIndex((ids) => ids.includes(late.eventId));
    expect(at, JSON.stringify(batches)).toBeGreaterThan(0);
    expect(at).toBeLessThanOrEqual(2);
    expect((await store.records.getRecord('account', 'NS-A'))?.parts.ledger?.history).toEqual([first[0]!.eventId, late.eventId]);
  });

  it('runs the real processor as two workers: every account ends as if its entries were applied one by one', async () => {
    const stores = [await open('proc-A'), await open('proc-B')];
    const keys = ['L1', 'L2', 'L3', 'L4', 'L5'];
    const posted = new Map<string, string[]>(keys.map((k) => [k, []]));
    const processors = stores.map((store) => new Processor(store.inbox, ledgerFlow, pino({ level: 'silent' }), { batchSize: 7, idlePollMs: 5 }));
    processors.forEach((p) => p.start());
    try {
      for (let round = 0; round < 30; round += 1) {
        const events = Array.from({ length: 10 }, (_, i) => {
          const e = event(keys[(round * 3 + i) % keys.length]!);
          const label = e.eventId;
          return { ...e, entity: 'account', name: 'ledger:entry:posted', envelope: { payload: { id: e.key, amount: 1, label } } };
        });
        await stores[round % 2]!.inbox.accept(events);
        for (const e of events) posted.get(e.key)!.push(e.eventId);
      }
      while ((await stores[0]!.stats()).queued > 0) await sleep(10);
    } finally {
      await Promise.all(processors.map((p) => p.stop()));
    }
    for (const key of keys) {
      const record = await stores[0]!.records.getRecord('account', key);
      expect(record?.parts.ledger).toEqual({ balance: posted.get(key)!.length, entries: posted.get(key)!.length, last: posted.get(key)!.at(-1), history: posted.get(key) });
      expect(record?.version).toBe(posted.get(key)!.length);
    }
    expect(await stores[0]!.inbox.listParked()).toEqual([]);
  });
});
