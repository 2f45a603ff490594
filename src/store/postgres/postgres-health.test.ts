// Processes declared down on a shared PostgreSQL: the keys a dead process was
// processing go to a live one at once (not after the lease runs out), its late
// commit lands nothing, and a live process that commits its batch in parts
// (its own commits freeing the keys as they go) is not mistaken for a dead one.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/postgres.js';
import { StaleBatchError } from '../../errors/index.js';
import type { ProcessInfo } from '../health-types.js';
import type { BatchCommit, InboxEvent, NewInboxEvent } from '../types.js';
import { sessionName } from './connection.js';
import { PostgresStore } from './postgres-store.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('pg_health');
});
afterAll(async () => {
  await db?.drop();
});

let n = 0;
const event = (key: string): NewInboxEvent => {
  n += 1;
  return { eventId: `h-${n}`, name: 'crm:contact:updated', version: 1, flowId: `f-${n}`, entity: 'customer', key, envelope: { n }, acceptedAt: 1_700_000_000_000 + n };
};

/** Commits events of one key as processed, the record moving from `from` to `from + events`. */
const applied = (events: InboxEvent[], from: number): BatchCommit => {
  const e = events[0]!;
  const version = from + events.length;
  return {
    records: [{ record: { entity: e.entity, key: e.key, version, parts: { n: { version } }, createdAt: 1, updatedAt: 1 }, expectedVersion: from }],
    audit: [],
    changes: [],
    deliveries: [],
    digestItems: [],
    processed: events.map((x, i) => ({ seq: x.seq, eventId: x.eventId, result: { entity: x.entity, key: x.key, version: from + i + 1, changedParts: ['n'] }, at: 1 })),
    parked: [],
  };
};

const info = (id: string): ProcessInfo => ({ id, host: 'box-1', pid: 1, roles: ['processor'], version: 'test' });

describe('PostgreSQL processes and their leases', () => {
  const opened: PostgresStore[] = [];
  const open = async (owner: string) => {
    // An hour's lease: anything taken over in these tests was freed, not timed out.
    const store = new PostgresStore({ url: db.url, owner, claimLeaseMs: 3_600_000 });
    await store.init();
    opened.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  it('hands a process’s keys to another at once when it is declared down, and refuses its late commit', async () => {
    const [dead, live] = [await open('dead-1'), await open('live-1')];
    await dead.health.registerProcess(info('dead-1'), () => []);
    await dead.inbox.accept([event('DEAD-1')]);
    const held = await dead.inbox.claimBatch(10);
    expect(held.events).toHaveLength(1);
    expect((await live.inbox.claimBatch(10)).events).toEqual([]);

    for (;;) {
      const reaped = await live.health.reapSilent(20, () => []);
      if (reaped.length > 0) {
        expect(reaped).toMatchObject([{ process: { id: 'dead-1', state: 'down' }, released: { keys: 1 } }]);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const taken = await live.inbox.claimBatch(10);
    expect(taken.events.map((e) => e.eventId)).toEqual(held.events.map((e) => e.eventId));
    await expect(dead.inbox.commitBatch(applied(held.events, 0))).rejects.toBeInstanceOf(StaleBatchError);
    await live.inbox.commitBatch(applied(taken.events, 0));
    expect((await live.records.getRecord('customer', 'DEAD-1'))?.version).toBe(1);
  });

  it('declares a process paused mid-transaction down all the same: its sessions end, and their locks with them', async () => {
    const [paused, live] = [await open('paused-1'), await open('live-3')];
    await paused.health.registerProcess(info('paused-1'), () => []);
    await paused.inbox.accept([event('PAUSED-1')]);
    expect((await paused.inbox.claimBatch(10)).events).toHaveLength(1);
    // What a process stopped inside its commit leaves: a session of its own, in a transaction holding its lease rows.
    const session = new pg.Client({ connectionString: db.url, application_name: sessionName('paused-1') });
    session.on('error', () => undefined);
    await session.connect();
    try {
      await session.query('BEGIN');
      expect((await session.query(`SELECT 1 FROM inbox_leases WHERE owner = 'paused-1' FOR UPDATE`)).rowCount).toBe(1);
      const reap = async () => {
        for (;;) {
          const reaped = await live.health.reapSilent(20, () => []);
          if (reaped.length > 0) return reaped;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      const blocked = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the declaration waited on the paused transaction')), 5_000).unref());
      expect(await Promise.race([reap(), blocked])).toMatchObject([{ process: { id: 'paused-1', state: 'down' }, released: { keys: 1 } }]);
      await expect(session.query('SELECT 1')).rejects.toThrow();
    } finally {
      await session.end().catch(() => undefined);
    }
    const taken = await live.inbox.claimBatch(10);
    expect(taken.events.map((e) => e.key)).toEqual(['PAUSED-1']);
    await live.inbox.commitBatch(applied(taken.events, 0));
  });

  it('lets a live process commit its batch a key’s events at a time, though its first commit freed the key', async () => {
    const store = await open('live-2');
    await store.health.registerProcess(info('live-2'), () => []);
    await store.inbox.accept([event('PARTS-1'), event('PARTS-1')]);
    const batch = await store.inbox.claimBatch(10);
    expect(batch.events).toHaveLength(2);
    await store.inbox.commitBatch(applied(batch.events.slice(0, 1), 0));
    await store.inbox.commitBatch(applied(batch.events.slice(1), 1));
    expect((await store.records.getRecord('customer', 'PARTS-1'))?.version).toBe(2);
    expect(await store.inbox.queued()).toBe(0);
  });
});
