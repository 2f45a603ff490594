// The Store contract: one suite every driver runs (`describeStoreContract`).
// It speaks only the port, so SQLite and PostgreSQL are held to the same rules.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StaleBatchError } from '../errors/index.js';
import type { Store } from './store.js';
import { recordId } from './store.js';
import type { BatchCommit, NewInboxEvent, StoredRecord } from './types.js';

export interface StoreFixture {
  store: Store;
  cleanup: () => Promise<void>;
}

let n = 0;
const inboxEvent = (key: string, over: Partial<NewInboxEvent> = {}): NewInboxEvent => {
  n += 1;
  return {
    eventId: `e-${n}`,
    name: 'crm:contact:updated',
    version: 1,
    flowId: `f-${n}`,
    entity: 'customer',
    key,
    envelope: { name: 'crm:contact:updated', version: 1, payload: { n } },
    acceptedAt: 1_700_000_000_000 + n,
    ...over,
  };
};

const emptyBatch = (): BatchCommit => ({ records: [], audit: [], changes: [], deliveries: [], digestItems: [], processed: [], parked: [] });

const record = (key: string, version: number, parts: StoredRecord['parts'], at = 1000 * version): StoredRecord => ({
  entity: 'customer',
  key,
  version,
  parts,
  createdAt: 1000,
  updatedAt: at,
});

export function describeStoreContract(driver: string, open: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${driver}`, () => {
    let fixture: StoreFixture;
    let store: Store;
    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('is safe to init again on an existing schema', async () => {
      await store.init();
      await store.accept([inboxEvent('CC-1')]);
      await store.init();
      expect((await store.stats()).queued).toBe(1);
    });

    it('accepts events durably and deduplicates by event id, also within one call', async () => {
      const a = inboxEvent('CC-1');
      const b = inboxEvent('CC-2');
      const first = await store.accept([a, b, { ...a, flowId: 'other' }]);
      expect(first.map((o) => o.status)).toEqual(['accepted', 'accepted', 'duplicate']);
      const again = await store.accept([b]);
      expect(again).toEqual([{ status: 'duplicate' }]);
      const trace = await store.getEvent(a.eventId);
      expect(trace).toMatchObject({ eventId: a.eventId, status: 'queued', flowId: a.flowId, entity: 'customer', key: 'CC-1', processedAt: null, changes: [] });
    });

    it('hands out queued events oldest first, at most `limit`, with the current records of their keys', async () => {
      const events = [inboxEvent('CC-1'), inboxEvent('CC-2'), inboxEvent('CC-1'), inboxEvent('CC-3')];
      await store.accept(events);
      const existing = record('CC-2', 1, { contact: { name: 'Bo' } });
      await store.commitBatch({ ...emptyBatch(), records: [{ record: existing, expectedVersion: 0 }] });

      const batch = await store.claimBatch(3);
      expect(batch.events.map((e) => e.eventId)).toEqual(events.slice(0, 3).map((e) => e.eventId));
      expect(batch.events[0]).toMatchObject({ status: 'queued', envelope: events[0]!.envelope, acceptedAt: events[0]!.acceptedAt });
      expect(batch.events[1]!.seq).toBeGreaterThan(batch.events[0]!.seq);
      expect([...batch.records.keys()]).toEqual([recordId('customer', 'CC-2')]);
      expect(batch.records.get(recordId('customer', 'CC-2'))).toEqual(existing);
    });

    it('commits record, audit, change, jobs and statuses together', async () => {
      const [e] = [inboxEvent('CC-1')];
      const [accepted] = await store.accept([e!]);
      const seq = accepted!.status === 'accepted' ? accepted!.seq : -1;
      const rec = record('CC-1', 1, { contact: { name: 'Ana', email: 'ana@example.com' } }, 5000);
      const diffs = [
        { part: 'contact', field: 'name', oldValue: undefined, newValue: 'Ana' },
        { part: 'contact', field: 'email', oldValue: undefined, newValue: 'ana@example.com' },
      ];
      await store.commitBatch({
        records: [{ record: rec, expectedVersion: 0 }],
        audit: diffs.map((d) => ({ ...d, entity: 'customer', key: 'CC-1', version: 1, rule: 'r', eventId: e!.eventId, flowId: e!.flowId, at: 5000 })),
        changes: [{ entity: 'customer', key: 'CC-1', version: 1, eventId: e!.eventId, flowId: e!.flowId, rule: 'r', changedParts: ['contact'], diffs, record: rec, at: 5000 }],
        deliveries: [{ deliveryId: 'd-1', integration: 'desk', kind: 'change', entity: 'customer', key: 'CC-1', eventId: e!.eventId, version: 1, request: { body: { a: 1 } }, status: 'pending', createdAt: 5000 }],
        digestItems: [],
        processed: [{ seq, eventId: e!.eventId, result: { entity: 'customer', key: 'CC-1', version: 1, changedParts: ['contact'] }, at: 5000 }],
        parked: [],
      });

      expect(await store.getRecord('customer', 'CC-1')).toEqual(rec);
      const audit = await store.listAudit('customer', 'CC-1', { limit: 10 });
      expect(audit.map((a) => [a.field, a.oldValue, a.newValue, a.version, a.eventId])).toEqual([
        ['name', undefined, 'Ana', 1, e!.eventId],
        ['email', undefined, 'ana@example.com', 1, e!.eventId],
      ]);
      const trace = await store.getEvent(e!.eventId);
      expect(trace).toMatchObject({ status: 'processed', processedAt: 5000, result: { version: 1, changedParts: ['contact'] } });
      expect(trace!.changes).toEqual([{ version: 1, rule: 'r', changedParts: ['contact'], diffs: [{ part: 'contact', field: 'name', newValue: 'Ana' }, { part: 'contact', field: 'email', newValue: 'ana@example.com' }], at: 5000 }]);
      expect((await store.claimBatch(10)).events).toEqual([]);
    });

    it('writes nothing from a batch whose record moved since the claim (StaleBatchError)', async () => {
      const [e1, e2] = [inboxEvent('CC-1'), inboxEvent('CC-1')];
      await store.accept([e1!, e2!]);
      await store.commitBatch({ ...emptyBatch(), records: [{ record: record('CC-1', 1, { contact: { name: 'A' } }), expectedVersion: 0 }] });
      const claimed = await store.claimBatch(10);
      const stale: BatchCommit = {
        records: [{ record: record('CC-1', 2, { contact: { name: 'B' } }), expectedVersion: 5 }],
        audit: [{ part: 'contact', field: 'name', oldValue: 'A', newValue: 'B', entity: 'customer', key: 'CC-1', version: 2, rule: 'r', eventId: e1!.eventId, flowId: 'f', at: 1 }],
        changes: [],
        deliveries: [],
        digestItems: [],
        processed: claimed.events.map((e) => ({ seq: e.seq, eventId: e.eventId, result: { entity: 'customer', key: 'CC-1', version: 2, changedParts: [] }, at: 1 })),
        parked: [],
      };
      await expect(store.commitBatch(stale)).rejects.toBeInstanceOf(StaleBatchError);
      // A record that already exists cannot be created again either.
      await expect(store.commitBatch({ ...stale, records: [{ record: record('CC-1', 1, {}), expectedVersion: 0 }] })).rejects.toBeInstanceOf(StaleBatchError);
      expect(await store.listAudit('customer', 'CC-1', { limit: 10 })).toEqual([]);
      expect((await store.getRecord('customer', 'CC-1'))!.version).toBe(1);
      expect((await store.claimBatch(10)).events).toHaveLength(2);
    });

    it('refuses to settle an event twice', async () => {
      const e = inboxEvent('CC-9');
      await store.accept([e]);
      const [claimed] = (await store.claimBatch(1)).events;
      const done = { ...emptyBatch(), processed: [{ seq: claimed!.seq, eventId: e.eventId, result: { entity: 'customer', key: 'CC-9', version: 0, changedParts: [] }, at: 1 }] };
      await store.commitBatch(done);
      await expect(store.commitBatch(done)).rejects.toBeInstanceOf(StaleBatchError);
    });

    it('parks a key: its events are held back, others flow; retry and skip release it', async () => {
      const [p1, p2, other] = [inboxEvent('CC-1'), inboxEvent('CC-1'), inboxEvent('CC-2')];
      await store.accept([p1!, p2!, other!]);
      const error = { code: 'RULE_FAILED', message: 'boom', details: { why: 'test' } };
      await store.commitBatch({ ...emptyBatch(), parked: [{ entity: 'customer', key: 'CC-1', eventId: p1!.eventId, error, parkedAt: 77 }] });

      expect((await store.claimBatch(10)).events.map((e) => e.eventId)).toEqual([other!.eventId]);
      expect(await store.listParked()).toEqual([{ entity: 'customer', key: 'CC-1', eventId: p1!.eventId, error, parkedAt: 77, waiting: 2 }]);
      // Events that arrive for a parked key wait behind it and are counted.
      const [p3, other2] = [inboxEvent('CC-1'), inboxEvent('CC-2')];
      await store.accept([p3!, other2!]);
      expect((await store.listParked()).map((p) => p.waiting)).toEqual([3]);
      expect((await store.claimBatch(10)).events.map((e) => e.eventId)).toEqual([other!.eventId, other2!.eventId]);
      expect(await store.getEvent(p1!.eventId)).toMatchObject({ status: 'parked', error });
      expect((await store.stats()).parkedKeys).toBe(1);

      expect(await store.retryParked('customer', 'CC-1')).toBe(true);
      expect(await store.retryParked('customer', 'CC-1')).toBe(false);
      expect((await store.claimBatch(10)).events.map((e) => e.eventId)).toEqual([p1!.eventId, p2!.eventId, other!.eventId, p3!.eventId, other2!.eventId]);

      await store.commitBatch({ ...emptyBatch(), parked: [{ entity: 'customer', key: 'CC-1', eventId: p1!.eventId, error, parkedAt: 78 }] });
      expect(await store.skipParked('customer', 'CC-1')).toEqual({ skippedEventId: p1!.eventId });
      expect(await store.skipParked('customer', 'CC-1')).toBeUndefined();
      expect((await store.getEvent(p1!.eventId))!.status).toBe('skipped');
      expect((await store.claimBatch(10)).events.map((e) => e.eventId)).toEqual([p2!.eventId, other!.eventId, p3!.eventId, other2!.eventId]);
      expect(await store.listParked()).toEqual([]);
    });

    it('pages the audit trail by cursor and cuts it at a time, keeping absent apart from null', async () => {
      const rows = [1, 2, 3, 4, 5].map((v) => ({
        part: 'contact',
        field: 'phone',
        oldValue: v === 1 ? undefined : v === 3 ? null : `p${v - 1}`,
        newValue: v === 2 ? null : v === 5 ? undefined : `p${v}`,
        entity: 'customer',
        key: 'CC-1',
        version: v,
        rule: 'r',
        eventId: `a-${v}`,
        flowId: 'f',
        at: v * 100,
      }));
      await store.commitBatch({ ...emptyBatch(), audit: rows });
      const first = await store.listAudit('customer', 'CC-1', { limit: 2 });
      expect(first.map((a) => a.version)).toEqual([1, 2]);
      const rest = await store.listAudit('customer', 'CC-1', { limit: 10, after: first[1]!.id });
      expect(rest.map((a) => a.version)).toEqual([3, 4, 5]);
      expect((await store.listAudit('customer', 'CC-1', { limit: 10, until: 300 })).map((a) => a.version)).toEqual([1, 2, 3]);
      expect(await store.listAudit('customer', 'CC-2', { limit: 10 })).toEqual([]);
      const all = [...first, ...rest];
      expect(all[0]!.oldValue).toBeUndefined();
      expect(all[1]!.newValue).toBeNull();
      expect(all[2]!.oldValue).toBeNull();
      expect(all[4]!.newValue).toBeUndefined();
    });

    it('counts queued events, parked keys and records', async () => {
      await store.accept([inboxEvent('CC-1'), inboxEvent('CC-2')]);
      await store.commitBatch({ ...emptyBatch(), records: [{ record: record('CC-3', 1, {}), expectedVersion: 0 }] });
      expect(await store.stats()).toEqual({ queued: 2, parkedKeys: 0, records: 1 });
      expect(await store.queued()).toBe(2);
    });
  });
}
