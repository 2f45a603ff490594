// The SQLite claim and settle paths beyond the shared contract: a claimed
// delivery carries every field as written (claims read rows as column arrays),
// a batch of settlements follows each integration's streak in order, and
// leases belong to the process (one process per file): a claim writes nothing
// to the file, the next process may send at once, and a settlement that did
// not commit leaves its lease in place.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/support/index.js';
import type { AttemptSettlement } from '../delivery-types.js';
import { SqliteStore } from './sqlite-store.js';

const T0 = 1_700_000_000_000;

describe('SqliteDeliveries', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  afterEach(async () => {
    await store?.close();
    dir?.remove();
  });

  async function open() {
    dir = tempDir();
    store = new SqliteStore({ path: join(dir.path, 'deliveries.db') });
    await store.init();
    await store.deliveries.registerIntegrations(['desk', 'crm'], T0);
  }

  const pending = (n: number, integration = 'desk') => ({
    deliveryId: `d-${n}`,
    integration,
    kind: 'change' as const,
    entity: 'customer',
    key: `K${n}`,
    eventId: `e-${n}`,
    version: n,
    request: { body: { n }, headers: { 'x-n': String(n) } },
    status: 'pending' as const,
    createdAt: T0 + n,
  });
  const write = (deliveries: ReturnType<typeof pending>[]) => store.inbox.commitBatch({ records: [], audit: [], changes: [], deliveries, digestItems: [], processed: [], parked: [] });

  it('claims deliveries with every field as stored, the same as reading one back', async () => {
    await open();
    await write([pending(1), pending(2)]);
    const claimed = await store.deliveries.claimDeliveries([{ integration: 'desk', ordered: false, limit: 10 }], { now: T0 + 100, leaseMs: 1000, owner: 'w' });
    expect(claimed[0]).toEqual({
      seq: claimed[0]?.seq,
      deliveryId: 'd-1',
      integration: 'desk',
      kind: 'change',
      entity: 'customer',
      key: 'K1',
      eventId: 'e-1',
      version: 1,
      request: { body: { n: 1 }, headers: { 'x-n': '1' } },
      status: 'pending',
      attempts: 0,
      totalAttempts: 0,
      cycleStartedAt: T0 + 1,
      nextAttemptAt: T0 + 1,
      trigger: 'scheduled',
      lastError: null,
      lastStatus: null,
      createdAt: T0 + 1,
      updatedAt: T0 + 1,
      completedAt: null,
    });
    for (const delivery of claimed) {
      const { log: _log, ...stored } = (await store.deliveries.getDelivery(delivery.deliveryId)) ?? { log: [] };
      expect(delivery).toEqual(stored);
    }
  });

  it('follows each integration failure streak through a batch, in order, and keeps the last', async () => {
    await open();
    await write([pending(1), pending(2), pending(3), pending(4), pending(5, 'crm')]);
    const claimed = await store.deliveries.claimDeliveries(
      [
        { integration: 'desk', ordered: false, limit: 10 },
        { integration: 'crm', ordered: false, limit: 10 },
      ],
      { now: T0 + 100, leaseMs: 60_000, owner: 'w' },
    );
    expect(claimed).toHaveLength(5);
    const settle = (n: number, ok: boolean, startedAt: number): AttemptSettlement => ({
      owner: 'w',
      status: ok ? 'succeeded' : 'pending',
      nextAttemptAt: ok ? null : T0 + 9999,
      integrationSucceeded: ok,
      attempt: { deliveryId: `d-${n}`, attempt: 1, trigger: 'scheduled', startedAt, durationMs: 1, method: 'PUT', url: 'http://x', requestHeaders: {}, status: ok ? 200 : 503, response: null, error: ok ? null : 'HTTP 503', outcome: ok ? 'succeeded' : 'retry', nextAttemptAt: ok ? null : T0 + 9999 },
    });
    const streaks = await store.deliveries.settleAttempts([settle(1, false, T0 + 201), settle(5, false, T0 + 202), settle(2, false, T0 + 203), settle(3, true, T0 + 204), settle(4, false, T0 + 205)], T0 + 300);
    expect(streaks).toEqual([
      { failingSince: T0 + 201, consecutiveFailures: 1 },
      { failingSince: T0 + 202, consecutiveFailures: 1 },
      { failingSince: T0 + 201, consecutiveFailures: 2 },
      { failingSince: null, consecutiveFailures: 0 },
      { failingSince: T0 + 205, consecutiveFailures: 1 },
    ]);
    const rows = await store.deliveries.listIntegrations();
    expect(rows.map((r) => [r.name, r.failingSince, r.consecutiveFailures])).toEqual([
      ['crm', T0 + 202, 1],
      ['desk', T0 + 205, 1],
    ]);
  });

  it('leases without writing to the database file, and leaves nothing leased to the next process', async () => {
    await open();
    await write([pending(1), pending(2)]);
    const path = join(dir.path, 'deliveries.db');
    const observer = new Database(path, { readonly: true });
    const version = () => observer.pragma('data_version', { simple: true }) as number;
    const before = version();
    const claim = (on: SqliteStore, owner: string) => on.deliveries.claimDeliveries([{ integration: 'desk', ordered: false, limit: 10 }], { now: T0 + 100, leaseMs: 60_000, owner });
    expect((await claim(store, 'w1')).map((d) => d.deliveryId)).toEqual(['d-1', 'd-2']);
    // data_version moves when another connection commits to the file: the claim committed nothing.
    expect(version()).toBe(before);
    // Within the process the lease holds: nothing is handed out twice.
    expect(await claim(store, 'w2')).toEqual([]);
    // A process that starts on the file after this one died holds no lease and may send both now.
    const next = new SqliteStore({ path });
    await next.init();
    expect((await claim(next, 'w3')).map((d) => d.deliveryId)).toEqual(['d-1', 'd-2']);
    // The old process's settlement no longer counts (its lease is gone with it); the new one's does.
    const settlement = (deliveryId: string, owner: string): AttemptSettlement => ({
      owner,
      status: 'succeeded',
      nextAttemptAt: null,
      integrationSucceeded: true,
      attempt: { deliveryId, attempt: 1, trigger: 'scheduled', startedAt: T0 + 200, durationMs: 1, method: 'PUT', url: 'http://x', requestHeaders: {}, status: 200, response: '', error: null, outcome: 'succeeded', nextAttemptAt: null },
    });
    expect(await next.deliveries.settleAttempts([settlement('d-1', 'w1'), settlement('d-1', 'w3')], T0 + 300)).toEqual([undefined, { failingSince: null, consecutiveFailures: 0 }]);
    expect(version()).toBe(before + 1);
    await next.close();
    observer.close();
  });

  it('keeps the lease when the settlement does not commit, so the delivery is not handed out again meanwhile', async () => {
    await open();
    await write([pending(1)]);
    const claim = (owner: string, now = T0 + 100) => store.deliveries.claimDeliveries([{ integration: 'desk', ordered: false, limit: 10 }], { now, leaseMs: 60_000, owner });
    expect((await claim('w1')).map((d) => d.deliveryId)).toEqual(['d-1']);
    // Another connection makes the attempt log refuse writes: the settlement's transaction fails.
    const other = new Database(join(dir.path, 'deliveries.db'));
    other.exec(`CREATE TRIGGER refuse BEFORE INSERT ON delivery_attempts BEGIN SELECT RAISE(ABORT, 'attempt log refused'); END`);
    const settlement: AttemptSettlement = {
      owner: 'w1',
      status: 'succeeded',
      nextAttemptAt: null,
      integrationSucceeded: true,
      attempt: { deliveryId: 'd-1', attempt: 1, trigger: 'scheduled', startedAt: T0 + 200, durationMs: 1, method: 'PUT', url: 'http://x', requestHeaders: {}, status: 200, response: '', error: null, outcome: 'succeeded', nextAttemptAt: null },
    };
    await expect(store.deliveries.settleAttempts([settlement], T0 + 300)).rejects.toThrow('attempt log refused');
    // Still pending and still w1's: no other dispatcher of the process gets it before the lease runs out …
    expect(await claim('w2', T0 + 400)).toEqual([]);
    other.exec('DROP TRIGGER refuse');
    other.close();
    // … and w1 can still settle it.
    expect(await store.deliveries.settleAttempts([settlement], T0 + 500)).toEqual([{ failingSince: null, consecutiveFailures: 0 }]);
    expect((await store.deliveries.getDelivery('d-1'))?.status).toBe('succeeded');
  });
});
