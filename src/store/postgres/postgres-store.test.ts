import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/postgres.js';
import { openStore } from '../../hub/open-store.js';
import { describeStoreContract } from '../store.contract.js';
import type { NewInboxEvent } from '../types.js';
import { MIGRATIONS } from './schema.js';
import { PostgresStore } from './postgres-store.js';
import { outcomePayloads } from './inbox-claims.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('pg_store');
});
afterAll(async () => {
  await db?.drop();
});

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

// Every contract test starts from empty tables in this file's database (DELETE: TRUNCATE
// costs ~100 ms a time here, and no test depends on where sequences start).
const openPostgres = async () => {
  const store = new PostgresStore({ url: db.url });
  await store.init();
  const tables = await query<{ name: string }>(db.url, `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'`);
  await query(db.url, tables.map((t) => `DELETE FROM ${pg.escapeIdentifier(t.name)};`).join('\n'));
  return { store, cleanup: () => store.close() };
};

describeStoreContract('postgres', openPostgres);

const event = (eventId: string, key: string, envelope: Record<string, unknown> = {}): NewInboxEvent => ({
  eventId,
  name: 'crm:contact:updated',
  version: 1,
  flowId: `f-${eventId}`,
  entity: 'customer',
  key,
  envelope,
  acceptedAt: 1_700_000_000_000,
});

/** Resolves on the listener's next call after `arm()`. */
function nextCall() {
  let resolve: () => void = () => undefined;
  let armed = false;
  return {
    listener: () => {
      if (armed) resolve();
    },
    arm: () =>
      new Promise<void>((r) => {
        armed = true;
        resolve = r;
      }),
  };
}

describe('PostgresStore', () => {
  it('migrates an empty database once when four processes start together', async () => {
    const fresh = await createTestDatabase('pg_init');
    const stores = Array.from({ length: 4 }, () => new PostgresStore({ url: fresh.url }));
    try {
      await Promise.all(stores.map((s) => s.init()));
      const applied = await query<{ version: number }>(fresh.url, 'SELECT version FROM schema_migrations ORDER BY version');
      expect(applied.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      await stores[0]!.inbox.accept([event('x', 'CC-1')]);
      expect((await stores[3]!.stats()).queued).toBe(1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await fresh.drop();
    }
  });

  it('refuses a database whose schema is newer than this code', async () => {
    const fresh = await createTestDatabase('pg_newer');
    try {
      const first = new PostgresStore({ url: fresh.url });
      await first.init();
      await first.close();
      await query(fresh.url, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, $1, 0)', ['from the future']);
      const again = new PostgresStore({ url: fresh.url });
      await expect(again.init()).rejects.toMatchObject({ code: 'SCHEMA_TOO_NEW', message: expect.stringMatching(/schema is version 999 .* upgrade Confluo/) });
      await again.close();
    } finally {
      await fresh.drop();
    }
  });

  it('says which server it cannot reach, without the password', async () => {
    const store = new PostgresStore({ url: 'postgres://confluo:s3cret-pw@127.0.0.1:1/nowhere' });
    const error = await store.init().then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    await store.close();
    expect(error?.message).toMatch(/^cannot reach PostgreSQL at 127\.0\.0\.1:1 \(database "nowhere"\): .*ECONNREFUSED/);
    expect(error?.code).toBe('STORE_UNREACHABLE');
    expect(JSON.stringify(error) + String(error?.message)).not.toContain('s3cret-pw');
    await expect(openStore('postgresql://confluo:s3cret-pw@127.0.0.1:1/nowhere')).rejects.toThrow(/cannot reach PostgreSQL at 127\.0\.0\.1:1/);
  });

  it('opens postgres:// URLs from openStore, with pool_max taken from the URL', async () => {
    const store = await openStore(`${db.url}?pool_max=3`);
    try {
      expect(store.driver).toBe('postgres');
      expect(await store.inbox.accept([event('open-1', 'CC-1')])).toEqual([{ status: 'accepted', seq: expect.any(Number) }]);
    } finally {
      await store.close();
    }
    expect(() => new PostgresStore({ url: `${db.url}?pool_max=0` })).toThrow(/pool_max must be a whole number of at least 1, not "0"/);
  });

  it('keeps envelopes exactly: NUL escapes, big integers, nested nulls', async () => {
    const store = new PostgresStore({ url: db.url });
    await store.init();
    try {
      const envelope = { payload: { text: 'a\u0000b\u2028c', big: Number.MAX_SAFE_INTEGER, tiny: 1e-7, nothing: null, list: [{}, [], ''] } };
      await store.inbox.accept([event('lossless-1', 'LOSSLESS', envelope)]);
      const batch = await store.inbox.claimBatch(1000);
      expect(batch.events.find((e) => e.eventId === 'lossless-1')?.envelope).toEqual(envelope);
    } finally {
      await store.close();
    }
  });

  it('stores a response excerpt holding NUL characters instead of failing the settlement', async () => {
    const store = new PostgresStore({ url: db.url });
    await store.init();
    try {
      await store.deliveries.registerIntegrations(['nul'], 1);
      await store.inbox.commitBatch({
        records: [],
        audit: [],
        changes: [],
        deliveries: [{ deliveryId: 'nul-1', integration: 'nul', kind: 'change', entity: 'customer', key: 'N', eventId: 'e-nul', version: 1, request: { body: {} }, status: 'pending', createdAt: 1 }],
        digestItems: [],
        processed: [],
        parked: [],
      });
      const [claimed] = await store.deliveries.claimDeliveries([{ integration: 'nul', limit: 1, ordered: false }], { now: 2, leaseMs: 1000, owner: 'w' });
      const attempt = { deliveryId: claimed!.deliveryId, attempt: 1, trigger: 'scheduled' as const, startedAt: 2, durationMs: 1, method: 'POST', url: 'http://x', requestHeaders: {}, status: 500, response: 'bin\u0000ary', error: 'HTTP 500', outcome: 'retry' as const, nextAttemptAt: 10 };
      const [settled] = await store.deliveries.settleAttempts([{ attempt, owner: 'w', status: 'pending', nextAttemptAt: 10, integrationSucceeded: false }], 3);
      expect(settled).toEqual({ failingSince: 2, consecutiveFailures: 1 });
      expect((await store.deliveries.getDelivery('nul-1'))?.log[0]?.response).toBe('bin\uFFFDary');
    } finally {
      await store.close();
    }
  });

  // A batch settles with one statement per table; these are the answers settling one by one gives.
  it('settles a batch as if one by one: streaks in order, one winner per delivery, successes reset a failing integration', async () => {
    const fresh = await createTestDatabase('pg_settle');
    const store = new PostgresStore({ url: fresh.url });
    await store.init();
    try {
      await store.deliveries.registerIntegrations(['batch'], 1);
      const ids = ['s-1', 's-2', 's-3', 's-4', 's-5'];
      await store.inbox.commitBatch({
        records: [],
        audit: [],
        changes: [],
        deliveries: ids.map((id, i) => ({ deliveryId: id, integration: 'batch', kind: 'change' as const, entity: 'customer', key: `K${i}`, eventId: `e-${id}`, version: 1, request: { body: {} }, status: 'pending' as const, createdAt: 1 })),
        digestItems: [],
        processed: [],
        parked: [],
      });
      expect(await store.deliveries.claimDeliveries([{ integration: 'batch', limit: 5, ordered: false }], { now: 2, leaseMs: 60_000, owner: 'w' })).toHaveLength(5);
      const settle = (deliveryId: string, ok: boolean, startedAt: number, owner = 'w') => ({
        owner,
        status: ok ? ('succeeded' as const) : ('pending' as const),
        nextAttemptAt: ok ? null : 100,
        integrationSucceeded: ok,
        attempt: { deliveryId, attempt: 1, trigger: 'scheduled' as const, startedAt, durationMs: 1, method: 'PUT', url: 'http://x', requestHeaders: {}, status: ok ? 200 : 503, response: null, error: ok ? null : 'HTTP 503', outcome: ok ? ('succeeded' as const) : ('retry' as const), nextAttemptAt: ok ? null : 100 },
      });
      const results = await store.deliveries.settleAttempts(
        [settle('s-1', false, 10, 'intruder'), settle('s-1', false, 11), settle('s-1', true, 12), settle('s-2', false, 13), settle('s-3', true, 14), settle('s-4', false, 15)],
        20,
      );
      expect(results).toEqual([
        undefined, // not the lease holder
        { failingSince: 11, consecutiveFailures: 1 },
        undefined, // the settlement before it cleared s-1's lease
        { failingSince: 11, consecutiveFailures: 2 },
        { failingSince: null, consecutiveFailures: 0 },
        { failingSince: 15, consecutiveFailures: 1 },
      ]);
      expect((await store.deliveries.getDelivery('s-1'))?.log.map((a) => a.startedAt)).toEqual([11]);
      expect(await query(fresh.url, `SELECT delivery_id, status, lease_owner FROM deliveries WHERE delivery_id IN ('s-1', 's-3', 's-5') ORDER BY delivery_id`)).toEqual([
        { delivery_id: 's-1', status: 'pending', lease_owner: null },
        { delivery_id: 's-3', status: 'succeeded', lease_owner: null },
        { delivery_id: 's-5', status: 'pending', lease_owner: 'w' },
      ]);
      expect(await query(fresh.url, `SELECT failing_since, consecutive_failures FROM integrations WHERE name = 'batch'`)).toEqual([{ failing_since: '15', consecutive_failures: 1 }]);
      // A batch of successes only (no lock taken on the integration) still ends the streak.
      expect(await store.deliveries.settleAttempts([settle('s-5', true, 30)], 31)).toEqual([{ failingSince: null, consecutiveFailures: 0 }]);
      expect(await query(fresh.url, `SELECT failing_since, consecutive_failures FROM integrations WHERE name = 'batch'`)).toEqual([{ failing_since: null, consecutive_failures: 0 }]);
    } finally {
      await store.close();
      await fresh.drop();
    }
  });

  it('wakes listeners in other processes when events are queued or deliveries are due', async () => {
    const [listening, writing] = [new PostgresStore({ url: db.url }), new PostgresStore({ url: db.url })];
    await Promise.all([listening.init(), writing.init()]);
    try {
      const inbox = nextCall();
      const deliveries = nextCall();
      // The first call comes when listening starts: anything committed before then was missed.
      const started = new Promise<void>((resolve) => listening.onWake('inbox', () => resolve()));
      listening.onWake('inbox', inbox.listener);
      listening.onWake('deliveries', deliveries.listener);
      await started;

      const woken = inbox.arm();
      await writing.inbox.accept([event('wake-1', 'WAKE')]);
      await woken;

      const due = deliveries.arm();
      await writing.inbox.commitBatch({
        records: [],
        audit: [],
        changes: [],
        deliveries: [{ deliveryId: 'wake-d', integration: 'x', kind: 'change', entity: 'customer', key: 'WAKE', eventId: 'wake-1', version: 1, request: { body: {} }, status: 'pending', createdAt: 1 }],
        digestItems: [],
        processed: [],
        parked: [],
      });
      await due;
    } finally {
      await Promise.all([listening.close(), writing.close()]);
    }
  });

  it('tells other processes which awaited events a commit processed or parked, and says "look at all" when listening starts', async () => {
    const [listening, writing] = [new PostgresStore({ url: db.url }), new PostgresStore({ url: db.url })];
    await Promise.all([listening.init(), writing.init()]);
    try {
      const heard: Array<readonly string[] | undefined> = [];
      let onHeard: () => void = () => undefined;
      const started = new Promise<void>((resolve) => listening.onWake('inbox', () => resolve()));
      listening.onWake('outcomes', (ids) => (heard.push(ids), onHeard()));
      await started;
      expect(heard).toEqual([undefined]);

      await writing.inbox.accept([event('outcome-1', 'OUT-1'), event('outcome-2', 'OUT-2'), event('outcome-3', 'OUT-3')]);
      const claimed = (await writing.inbox.claimBatch(1000)).events.filter((e) => e.eventId.startsWith('outcome-'));
      const [one, two, three] = claimed;
      const notified = new Promise<void>((resolve) => (onHeard = resolve));
      await writing.inbox.commitBatch({
        records: [],
        audit: [],
        changes: [],
        deliveries: [],
        digestItems: [],
        processed: [
          { seq: one!.seq, eventId: one!.eventId, result: { entity: 'customer', key: 'OUT-1', version: 0, changedParts: [] }, at: 1, awaited: true },
          // Nobody waits for this one: other processes are not told.
          { seq: three!.seq, eventId: three!.eventId, result: { entity: 'customer', key: 'OUT-3', version: 0, changedParts: [] }, at: 1 },
        ],
        parked: [{ entity: 'customer', key: 'OUT-2', eventId: two!.eventId, error: { code: 'RULE_FAILED', message: 'boom' }, parkedAt: 1, awaited: true }],
      });
      await notified;
      expect(heard.slice(1)).toEqual([['outcome-1', 'outcome-2']]);
    } finally {
      await Promise.all([listening.close(), writing.close()]);
    }
  });

  it('splits the ids of a large batch over notifications under PostgreSQL\'s 8,000-byte payload limit', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `msg_${String(i).padStart(4, '0')}_${'x'.repeat(30)}`);
    const payloads = outcomePayloads(ids);
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(7_000);
    expect(payloads.flatMap((p) => JSON.parse(p) as string[])).toEqual(ids);
    // An id no payload can hold is left out rather than failing the commit.
    expect(outcomePayloads(['a', 'ü'.repeat(4_000), 'b']).map((p) => JSON.parse(p))).toEqual([['a', 'b']]);
  });

  it('listens again after its connection is cut, and says so with a wake-up', async () => {
    const [listening, writing] = [new PostgresStore({ url: db.url }), new PostgresStore({ url: db.url })];
    await Promise.all([listening.init(), writing.init()]);
    try {
      const inbox = nextCall();
      const started = new Promise<void>((resolve) => listening.onWake('inbox', () => resolve()));
      listening.onWake('inbox', inbox.listener);
      await started;

      const relistened = inbox.arm();
      const cut = await query<{ cut: boolean }>(
        db.url,
        `SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`,
      );
      expect(cut.map((c) => c.cut)).toEqual([true]);
      await relistened;

      const woken = inbox.arm();
      await writing.inbox.accept([event('relisten-1', 'RELISTEN')]);
      await woken;
    } finally {
      await Promise.all([listening.close(), writing.close()]);
    }
  });

  it('stops calling a listener once unsubscribed', async () => {
    const [listening, writing] = [new PostgresStore({ url: db.url }), new PostgresStore({ url: db.url })];
    await Promise.all([listening.init(), writing.init()]);
    try {
      let calls = 0;
      const started = new Promise<void>((resolve) => listening.onWake('inbox', () => resolve()));
      const stop = listening.onWake('inbox', () => (calls += 1));
      await started;
      const before = calls;
      stop();
      const other = nextCall();
      listening.onWake('inbox', other.listener);
      const woken = other.arm();
      await writing.inbox.accept([event('unsub-1', 'UNSUB')]);
      await woken;
      expect(calls).toBe(before);
    } finally {
      await Promise.all([listening.close(), writing.close()]);
    }
  });
});
