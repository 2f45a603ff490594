// The DeliveryStore contract: leases, settlements, integration states,
// retries, replays and digest windows, held to the same rules on every driver.
import { describe, expect, it } from 'vitest';
import type { AttemptSettlement, NewDelivery } from './delivery-types.js';
import { eachFreshStore, emptyBatch, type StoreFixture } from './contract-fixtures.js';
import type { Store } from './store.js';

const T0 = 1_700_000_000_000;
let n = 0;

const newDelivery = (key: string, over: Partial<NewDelivery> = {}): NewDelivery => {
  n += 1;
  return { deliveryId: `d-${n}`, integration: 'desk', kind: 'change', entity: 'customer', key, eventId: `e-${n}`, version: 1, request: { body: { n } }, status: 'pending', createdAt: T0 + n, ...over };
};

const write = (store: Store, deliveries: NewDelivery[], digestItems: Parameters<Store['inbox']['commitBatch']>[0]['digestItems'] = []) =>
  store.inbox.commitBatch({ records: [], audit: [], changes: [], deliveries, digestItems, processed: [], parked: [] });

const settlement = (deliveryId: string, owner: string, over: Partial<AttemptSettlement> = {}): AttemptSettlement => ({
  owner,
  status: 'succeeded',
  nextAttemptAt: null,
  integrationSucceeded: true,
  attempt: { deliveryId, attempt: 1, trigger: 'scheduled', startedAt: T0 + 10_000, durationMs: 5, method: 'PUT', url: 'http://x/c', requestHeaders: { a: 'b' }, status: 200, response: 'ok', error: null, outcome: 'succeeded', nextAttemptAt: null },
  ...over,
});

export function describeDeliveryStoreContract(driver: string, open: () => Promise<StoreFixture>): void {
  describe(`DeliveryStore contract: ${driver}`, () => {
    let store: Store;
    const claim = (now: number, limit = 10, ordered = false, owner = 'w1', leaseMs = 1000) =>
      store.deliveries.claimDeliveries([{ integration: 'desk', limit, ordered }], { now, leaseMs, owner });
    eachFreshStore(open, async (opened) => {
      store = opened;
      await store.deliveries.registerIntegrations(['desk', 'other'], T0);
    });

    it('registers integrations once, active, and counts their deliveries by status', async () => {
      await store.deliveries.registerIntegrations(['desk'], T0 + 5);
      await write(store, [newDelivery('A'), newDelivery('B', { status: 'ignored', request: undefined, reason: 'skip' })]);
      const rows = await store.deliveries.listIntegrations();
      expect(rows.map((r) => [r.name, r.state])).toEqual([['desk', 'active'], ['other', 'active']]);
      expect(rows[0]!.counts).toEqual({ pending: 1, succeeded: 0, failed: 0, dead: 0, ignored: 1 });
      expect(await store.deliveries.setIntegrationState('nope', 'paused', null, T0)).toBeUndefined();
    });

    it('counts pending and dead deliveries per integration that has any', async () => {
      expect(await store.deliveries.backlogByIntegration()).toEqual([]);
      const [a, b, c] = [newDelivery('A'), newDelivery('B'), newDelivery('C', { integration: 'other' })];
      await write(store, [a, b, c, newDelivery('D', { status: 'ignored', request: undefined, reason: 'skip' })]);
      const claimed = await claim(T0 + 100);
      const dead = settlement(claimed[0]!.deliveryId, 'w1', { status: 'dead', integrationSucceeded: false });
      const succeeded = settlement(claimed[1]!.deliveryId, 'w1');
      await store.deliveries.settleAttempts([dead, succeeded], T0 + 200);
      expect(await store.deliveries.backlogByIntegration()).toEqual([
        { integration: 'desk', pending: 0, dead: 1 },
        { integration: 'other', pending: 1, dead: 0 },
      ]);
    });

    it('leases due deliveries of active integrations only, up to the limit, until the lease runs out', async () => {
      const [a, b, c] = [newDelivery('A'), newDelivery('B'), newDelivery('C')];
      await write(store, [a, b, c]);
      const now = T0 + 100;
      expect((await claim(now, 2)).map((d) => d.deliveryId)).toEqual([a.deliveryId, b.deliveryId]);
      expect((await claim(now, 10, false, 'w2')).map((d) => d.deliveryId)).toEqual([c.deliveryId]);
      expect(await claim(now + 999, 10, false, 'w2')).toEqual([]);
      expect((await claim(now + 1000, 10, false, 'w2')).map((d) => d.deliveryId)).toEqual([a.deliveryId, b.deliveryId, c.deliveryId]);

      expect(await store.deliveries.setIntegrationState('desk', 'paused', 'by hand', now)).toBe('active');
      expect(await claim(now + 5000)).toEqual([]);
      expect(await store.deliveries.setIntegrationState('desk', 'active', null, now)).toBe('paused');
      expect(await claim(now + 5000)).toHaveLength(3);
    });

    it('with ordered claims, hands out only the oldest pending delivery of each key', async () => {
      const [a1, a2, b1] = [newDelivery('A'), newDelivery('A'), newDelivery('B')];
      await write(store, [a1, a2, b1]);
      expect((await claim(T0 + 100, 10, true)).map((d) => d.deliveryId)).toEqual([a1.deliveryId, b1.deliveryId]);
      // a1 is still pending (in flight): a2 waits even after a1's lease runs out, until a1 settles.
      expect((await claim(T0 + 1200, 10, true, 'w2')).map((d) => d.deliveryId)).toEqual([a1.deliveryId, b1.deliveryId]);
      await store.deliveries.settleAttempts([settlement(a1.deliveryId, 'w2')], T0 + 1300);
      expect((await claim(T0 + 2400, 10, true, 'w3')).map((d) => d.deliveryId)).toEqual([a2.deliveryId, b1.deliveryId]);
    });

    it('with ordered claims, a long queue behind one key in flight does not hide the keys after it', async () => {
      // 300 changes of A, the oldest: its head goes out and the other 299 must wait for it.
      // Ids and times of their own: 302 turns of the shared counter would push the later tests' deliveries past their claim times.
      const queued = (key: string, i: number): NewDelivery => ({ deliveryId: `q-${i}`, integration: 'desk', kind: 'change', entity: 'customer', key, eventId: `qe-${i}`, version: i + 1, request: { body: { i } }, status: 'pending', createdAt: T0 + i });
      const queue = Array.from({ length: 300 }, (_, i) => queued('A', i));
      const [b1, c1] = [queued('B', 300), queued('C', 301)];
      await write(store, [...queue, b1, c1]);
      expect((await claim(T0 + 1000, 1, true)).map((d) => d.deliveryId)).toEqual([queue[0]!.deliveryId]);
      // The oldest due deliveries are all A's, held back: B and C are found past them, in order.
      expect((await claim(T0 + 1000, 1, true, 'w2')).map((d) => d.deliveryId)).toEqual([b1.deliveryId]);
      expect((await claim(T0 + 1000, 5, true, 'w3')).map((d) => d.deliveryId)).toEqual([c1.deliveryId]);
      await store.deliveries.settleAttempts([settlement(queue[0]!.deliveryId, 'w1')], T0 + 1100);
      expect((await claim(T0 + 1200, 5, true, 'w4')).map((d) => d.deliveryId)).toEqual([queue[1]!.deliveryId]);
    });

    it('settles attempts only for the lease holder, logs them, and tracks the failure streak', async () => {
      const [a, b] = [newDelivery('A'), newDelivery('B')];
      await write(store, [a, b]);
      await claim(T0 + 100);
      const retry = settlement(a.deliveryId, 'w1', {
        status: 'pending',
        nextAttemptAt: T0 + 5000,
        integrationSucceeded: false,
        attempt: { ...settlement(a.deliveryId, 'w1').attempt, status: 503, error: 'HTTP 503', outcome: 'retry', nextAttemptAt: T0 + 5000 },
      });
      const results = await store.deliveries.settleAttempts([retry, settlement(b.deliveryId, 'intruder')], T0 + 200);
      expect(results[0]).toEqual({ failingSince: T0 + 10_000, consecutiveFailures: 1 });
      expect(results[1]).toBeUndefined();
      const after = await store.deliveries.getDelivery(a.deliveryId);
      expect(after).toMatchObject({ status: 'pending', attempts: 1, totalAttempts: 1, nextAttemptAt: T0 + 5000, lastError: 'HTTP 503', lastStatus: 503 });
      expect(after!.log).toEqual([retry.attempt]);
      expect((await store.deliveries.getDelivery(b.deliveryId))!.log).toEqual([]);
      // Not due before its next attempt; due after.
      expect((await claim(T0 + 4999, 10, false, 'w2')).map((d) => d.deliveryId)).toEqual([b.deliveryId]);
      expect((await claim(T0 + 5000, 10, false, 'w2')).map((d) => d.deliveryId)).toEqual([a.deliveryId]);
      const ok = await store.deliveries.settleAttempts([settlement(a.deliveryId, 'w2', { attempt: { ...settlement(a.deliveryId, 'w2').attempt, attempt: 2 } })], T0 + 6000);
      expect(ok[0]).toEqual({ failingSince: null, consecutiveFailures: 0 });
      expect(await store.deliveries.getDelivery(a.deliveryId)).toMatchObject({ status: 'succeeded', attempts: 2, completedAt: T0 + 6000 });
    });

    it('retries a finished delivery as a new manual cycle, but not a pending or ignored one', async () => {
      const [a, ignored] = [newDelivery('A'), newDelivery('B', { status: 'ignored', request: undefined, reason: 'no' })];
      await write(store, [a, ignored]);
      expect(await store.deliveries.retryDelivery(a.deliveryId, T0 + 1)).toBe(false);
      await claim(T0 + 100);
      await store.deliveries.settleAttempts([settlement(a.deliveryId, 'w1', { status: 'dead', integrationSucceeded: false })], T0 + 200);
      expect(await store.deliveries.retryDelivery(a.deliveryId, T0 + 300)).toBe(true);
      expect(await store.deliveries.getDelivery(a.deliveryId)).toMatchObject({ status: 'pending', attempts: 0, totalAttempts: 1, trigger: 'manual', cycleStartedAt: T0 + 300, nextAttemptAt: T0 + 300, completedAt: null });
      expect(await store.deliveries.retryDelivery(ignored.deliveryId, T0 + 300)).toBe(false);
      expect(await store.deliveries.retryDelivery('missing', T0 + 300)).toBe(false);
    });

    it('replays finished deliveries of one integration created in a time range, in chunks', async () => {
      const all = Array.from({ length: 5 }, (_, i) => newDelivery(`K${i}`, { createdAt: T0 + i * 1000 }));
      const other = newDelivery('Z', { integration: 'other', createdAt: T0 + 1000 });
      await write(store, [...all, other]);
      const claimed = await store.deliveries.claimDeliveries([{ integration: 'desk', limit: 10, ordered: false }, { integration: 'other', limit: 10, ordered: false }], { now: T0 + 10_000, leaseMs: 1000, owner: 'w1' });
      await store.deliveries.settleAttempts(claimed.map((d) => settlement(d.deliveryId, 'w1')), T0 + 10_001);
      expect(await store.deliveries.countReplayable('desk', T0 + 1000, T0 + 3000)).toBe(3);
      const first = await store.deliveries.replayDeliveries('desk', T0 + 1000, T0 + 3000, { afterSeq: 0, limit: 2, now: T0 + 20_000 });
      expect(first.replayed).toBe(2);
      const second = await store.deliveries.replayDeliveries('desk', T0 + 1000, T0 + 3000, { afterSeq: first.lastSeq!, limit: 2, now: T0 + 20_000 });
      expect(second.replayed).toBe(1);
      expect((await store.deliveries.listDeliveries({ status: 'pending', limit: 10 })).map((d) => d.key).sort()).toEqual(['K1', 'K2', 'K3']);
      expect((await store.deliveries.getDelivery(other.deliveryId))!.status).toBe('succeeded');
    });

    it('lists deliveries newest first with filters and a cursor', async () => {
      const [a, b, c] = [newDelivery('A'), newDelivery('B'), newDelivery('A', { status: 'failed', request: undefined, reason: 'mapping threw: x' })];
      await write(store, [a, b, c]);
      expect((await store.deliveries.listDeliveries({ limit: 10 })).map((d) => d.deliveryId)).toEqual([c.deliveryId, b.deliveryId, a.deliveryId]);
      expect((await store.deliveries.listDeliveries({ key: 'A', limit: 10 })).map((d) => d.deliveryId)).toEqual([c.deliveryId, a.deliveryId]);
      expect((await store.deliveries.listDeliveries({ status: 'failed', limit: 10 }))[0]).toMatchObject({ lastError: 'mapping threw: x', completedAt: c.createdAt });
      const page = await store.deliveries.listDeliveries({ limit: 1 });
      expect((await store.deliveries.listDeliveries({ before: page[0]!.seq, limit: 10 })).map((d) => d.deliveryId)).toEqual([b.deliveryId, a.deliveryId]);
      expect((await store.deliveries.listDeliveries({ eventId: b.eventId, limit: 10 })).map((d) => d.deliveryId)).toEqual([b.deliveryId]);
    });

    it('lists the deliveries of events, and of a key\'s changes from a version on, oldest first with their attempts', async () => {
      const change = (eventId: string, key: string, version: number) => ({
        entity: 'customer', key, version, eventId, flowId: 'f', rule: 'r', changedParts: ['contact'], diffs: [], record: { entity: 'customer', key, version, parts: {}, createdAt: T0, updatedAt: T0 }, at: T0,
      });
      const v1 = newDelivery('A', { eventId: 'ev-1', version: 1 });
      const v1other = newDelivery('A', { eventId: 'ev-1', version: 1, integration: 'other', status: 'ignored', request: undefined, reason: 'not for us' });
      const v2 = newDelivery('A', { eventId: 'ev-2', version: 2 });
      const noChange = newDelivery('A', { eventId: 'ev-3', version: null, kind: 'event' });
      const otherKey = newDelivery('B', { eventId: 'ev-4', version: 1 });
      await store.inbox.commitBatch({ ...emptyBatch(), changes: [change('ev-1', 'A', 1), change('ev-2', 'A', 2), change('ev-4', 'B', 1)], deliveries: [v1, v1other, v2, noChange, otherKey] });
      const [claimed] = await store.deliveries.claimDeliveries([{ integration: 'desk', limit: 1, ordered: false }], { now: T0 + 100, leaseMs: 1000, owner: 'w1' });
      expect(claimed!.deliveryId).toBe(v1.deliveryId);
      const first = settlement(v1.deliveryId, 'w1', { status: 'pending', nextAttemptAt: T0 + 500, integrationSucceeded: false, attempt: { ...settlement(v1.deliveryId, 'w1').attempt, status: 503, outcome: 'retry' } });
      await store.deliveries.settleAttempts([first], T0 + 200);
      // Claims every due one (v1 again among them); only v1's attempt is settled.
      await store.deliveries.claimDeliveries([{ integration: 'desk', limit: 10, ordered: false }], { now: T0 + 600, leaseMs: 1000, owner: 'w1' });
      const second = settlement(v1.deliveryId, 'w1', { attempt: { ...settlement(v1.deliveryId, 'w1').attempt, attempt: 2 } });
      await store.deliveries.settleAttempts([second], T0 + 700);

      const ofEvents = await store.deliveries.listDeliveriesOfEvents(['ev-1', 'ev-3', 'nope']);
      expect(ofEvents.map((d) => [d.deliveryId, d.status, d.log.map((a) => a.attempt)])).toEqual([
        [v1.deliveryId, 'succeeded', [1, 2]],
        [v1other.deliveryId, 'ignored', []],
        [noChange.deliveryId, 'pending', []],
      ]);
      expect(ofEvents[0]!.log).toEqual([first.attempt, second.attempt]);
      expect(ofEvents[1]!.lastError).toBe('not for us');
      expect(await store.deliveries.listDeliveriesOfEvents([])).toEqual([]);

      expect((await store.deliveries.listDeliveriesOfKey('customer', 'A', 1)).map((d) => d.deliveryId)).toEqual([v1.deliveryId, v1other.deliveryId, v2.deliveryId]);
      expect((await store.deliveries.listDeliveriesOfKey('customer', 'A', 2)).map((d) => [d.deliveryId, d.log])).toEqual([[v2.deliveryId, []]]);
      expect(await store.deliveries.listDeliveriesOfKey('customer', 'C', 1)).toEqual([]);
    });

    it('lists integration states without counting deliveries', async () => {
      await store.deliveries.setIntegrationState('other', 'paused', 'by hand', T0 + 9);
      expect(await store.deliveries.listIntegrationStates()).toEqual([
        { name: 'desk', state: 'active', reason: null, failingSince: null, consecutiveFailures: 0, updatedAt: T0 },
        { name: 'other', state: 'paused', reason: 'by hand', failingSince: null, consecutiveFailures: 0, updatedAt: T0 + 9 },
      ]);
    });

    it('hands out a digest window only once it has closed, and folds it exactly once', async () => {
      const item = (windowStart: number, key: string) => ({ integration: 'desk', windowStart, entity: 'customer', key, eventId: `e-${key}`, item: { key }, createdAt: windowStart + 1 });
      await write(store, [], [item(T0, 'A'), item(T0, 'B'), item(T0 + 60_000, 'C')]);
      expect(await store.deliveries.takeDigestWindow('desk', 60_000, T0 + 59_999)).toBeUndefined();
      const window = await store.deliveries.takeDigestWindow('desk', 60_000, T0 + 60_000);
      expect(window).toMatchObject({ integration: 'desk', windowStart: T0 });
      expect(window!.items.map((i) => i.item)).toEqual([{ key: 'A' }, { key: 'B' }]);
      const digest = newDelivery('*', { deliveryId: `digest_desk_${T0}`, kind: 'digest' });
      await store.deliveries.commitDigest(window!, digest);
      await expect(store.deliveries.commitDigest(window!, digest)).rejects.toThrow(/folded concurrently/);
      expect((await store.deliveries.listDeliveries({ limit: 10 })).map((d) => d.deliveryId)).toEqual([digest.deliveryId]);
      expect(await store.deliveries.takeDigestWindow('desk', 60_000, T0 + 60_000)).toBeUndefined();
      expect((await store.deliveries.takeDigestWindow('desk', 60_000, T0 + 120_000))!.items.map((i) => i.key)).toEqual(['C']);
    });
  });
}
