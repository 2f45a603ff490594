// The InboxStore contract: accepting and deduplicating events, claiming and
// committing batches all-or-nothing, parking keys. Every driver runs it.
import { describe, expect, it } from 'vitest';
import { StaleBatchError } from '../errors/index.js';
import { eachFreshStore, emptyBatch, inboxEvent, record, type StoreFixture } from './contract-fixtures.js';
import type { Store } from './store.js';
import { recordId } from './store.js';
import type { BatchCommit } from './types.js';

export function describeInboxStoreContract(driver: string, open: () => Promise<StoreFixture>): void {
  describe(`InboxStore contract: ${driver}`, () => {
    let store: Store;
    eachFreshStore(open, (opened) => {
      store = opened;
    });

    it('links identifier values with a batch, files routed events under the linked key, and refuses a value linked elsewhere', async () => {
      const link = (value: string, key: string, eventId = `l-${value}`) => ({ entity: 'customer', identifier: 'email', value, key, eventId, linkedAt: 5000 });
      await store.inbox.commitBatch({ ...emptyBatch(), links: [link('ana@example.com', 'CC-1'), link('old@example.com', 'CC-1')] });
      const routed = inboxEvent('email:ana@example.com', { route: { identifier: 'email', value: 'ana@example.com' } });
      const unknown = inboxEvent('email:bob@example.com', { route: { identifier: 'email', value: 'bob@example.com' } });
      await store.inbox.accept([routed, unknown]);
      const { events } = await store.inbox.claimBatch(10);
      expect(events.map((e) => [e.eventId, e.key])).toEqual([
        [routed.eventId, 'CC-1'],
        [unknown.eventId, 'email:bob@example.com'],
      ]);

      // The same value to the same key again is a no-op; to another key, a lost race.
      await store.inbox.commitBatch({ ...emptyBatch(), links: [link('ana@example.com', 'CC-1', 'again')] });
      await expect(store.inbox.commitBatch({ ...emptyBatch(), links: [link('ana@example.com', 'CC-2')] })).rejects.toBeInstanceOf(StaleBatchError);

      const found = await store.inbox.findLinks('customer', { keys: ['CC-1'], values: [{ identifier: 'email', value: 'bob@example.com' }, { identifier: 'email', value: 'old@example.com' }] });
      expect(found.map((l) => [l.value, l.key, l.eventId]).sort()).toEqual([
        ['ana@example.com', 'CC-1', 'l-ana@example.com'],
        ['old@example.com', 'CC-1', 'l-old@example.com'],
      ]);
      expect(await store.inbox.findLinks('vendor', { keys: ['CC-1'], values: [{ identifier: 'email', value: 'ana@example.com' }] })).toEqual([]);
      expect((await store.records.listIdentifiers('customer', 'CC-1')).map((l) => l.value)).toEqual(['ana@example.com', 'old@example.com']);
      expect(await store.records.listIdentifiers('customer', 'CC-2')).toEqual([]);
    });

    it('lets one of two commits linking one value to two keys at once win; the other is stale', async () => {
      const link = (key: string) => ({ entity: 'customer', identifier: 'email', value: 'both@example.com', key, eventId: `l-${key}`, linkedAt: 1 });
      const settled = await Promise.allSettled(['CC-1', 'CC-2'].map((key) => store.inbox.commitBatch({ ...emptyBatch(), links: [link(key)] })));
      const won = settled.findIndex((s) => s.status === 'fulfilled');
      expect(won).not.toBe(-1);
      const lost = settled[1 - won]!;
      expect(lost.status === 'rejected' && lost.reason).toBeInstanceOf(StaleBatchError);
      const holders = await store.inbox.findLinks('customer', { keys: [], values: [{ identifier: 'email', value: 'both@example.com' }] });
      expect(holders.map((l) => l.key)).toEqual([won === 0 ? 'CC-1' : 'CC-2']);
    });

    it('accepts events durably and deduplicates by event id, also within one call', async () => {
      const a = inboxEvent('CC-1');
      const b = inboxEvent('CC-2');
      const first = await store.inbox.accept([a, b, { ...a, flowId: 'other' }]);
      expect(first.map((o) => o.status)).toEqual(['accepted', 'accepted', 'duplicate']);
      const again = await store.inbox.accept([b]);
      expect(again).toEqual([{ status: 'duplicate' }]);
      const trace = await store.records.getEvent(a.eventId);
      expect(trace).toMatchObject({ eventId: a.eventId, status: 'queued', flowId: a.flowId, entity: 'customer', key: 'CC-1', processedAt: null, changes: [] });
    });

    it('hands out queued events oldest first, at most `limit`, with the current records of their keys', async () => {
      const events = [inboxEvent('CC-1'), inboxEvent('CC-2'), inboxEvent('CC-1'), inboxEvent('CC-3')];
      await store.inbox.accept(events);
      const existing = record('CC-2', 1, { contact: { name: 'Bo' } });
      await store.inbox.commitBatch({ ...emptyBatch(), records: [{ record: existing, expectedVersion: 0 }] });

      const batch = await store.inbox.claimBatch(3);
      expect(batch.events.map((e) => e.eventId)).toEqual(events.slice(0, 3).map((e) => e.eventId));
      expect(batch.events[0]).toMatchObject({ status: 'queued', envelope: events[0]!.envelope, acceptedAt: events[0]!.acceptedAt });
      expect(batch.events[1]!.seq).toBeGreaterThan(batch.events[0]!.seq);
      expect([...batch.records.keys()]).toEqual([recordId('customer', 'CC-2')]);
      expect(batch.records.get(recordId('customer', 'CC-2'))).toEqual(existing);
    });

    it("with several entities, hands out and updates the record of each event's own entity and key only", async () => {
      // Both entities hold both keys: looking records up by entity and key separately must not mix them.
      const stored = [
        record('K1', 1, { contact: { name: 'customer K1' } }),
        record('K2', 1, { contact: { name: 'customer K2' } }),
        { ...record('K1', 1, { contact: { name: 'account K1' } }), entity: 'account' },
        { ...record('K2', 1, { contact: { name: 'account K2' } }), entity: 'account' },
      ];
      await store.inbox.commitBatch({ ...emptyBatch(), records: stored.map((r) => ({ record: r, expectedVersion: 0 })) });
      await store.inbox.accept([inboxEvent('K1'), inboxEvent('K2', { entity: 'account' })]);

      const batch = await store.inbox.claimBatch(10);
      const wanted = [recordId('customer', 'K1'), recordId('account', 'K2')];
      expect(wanted.map((id) => batch.records.get(id)?.parts)).toEqual([{ contact: { name: 'customer K1' } }, { contact: { name: 'account K2' } }]);

      const updated = [stored[0]!, stored[3]!].map((r) => ({ record: { ...r, version: 2, parts: { contact: { name: `${r.entity} ${r.key} v2` } } }, expectedVersion: 1 }));
      await store.inbox.commitBatch({ ...emptyBatch(), records: updated });
      const versions = await Promise.all(stored.map((r) => store.records.getRecord(r.entity, r.key).then((got) => got?.version)));
      expect(versions).toEqual([2, 1, 1, 2]);
    });

    it('commits record, audit, change, jobs and statuses together', async () => {
      const [e] = [inboxEvent('CC-1')];
      const [accepted] = await store.inbox.accept([e!]);
      const seq = accepted!.status === 'accepted' ? accepted!.seq : -1;
      const rec = record('CC-1', 1, { contact: { name: 'Ana', email: 'ana@example.com' } }, 5000);
      const diffs = [
        { part: 'contact', field: 'name', oldValue: undefined, newValue: 'Ana' },
        { part: 'contact', field: 'email', oldValue: undefined, newValue: 'ana@example.com' },
      ];
      await store.inbox.commitBatch({
        records: [{ record: rec, expectedVersion: 0 }],
        audit: diffs.map((d) => ({ ...d, entity: 'customer', key: 'CC-1', version: 1, rule: 'r', eventId: e!.eventId, flowId: e!.flowId, at: 5000 })),
        changes: [{ entity: 'customer', key: 'CC-1', version: 1, eventId: e!.eventId, flowId: e!.flowId, rule: 'r', changedParts: ['contact'], diffs, record: rec, at: 5000 }],
        deliveries: [{ deliveryId: 'd-1', integration: 'desk', kind: 'change', entity: 'customer', key: 'CC-1', eventId: e!.eventId, version: 1, request: { body: { a: 1 } }, status: 'pending', createdAt: 5000 }],
        digestItems: [],
        processed: [{ seq, eventId: e!.eventId, result: { entity: 'customer', key: 'CC-1', version: 1, changedParts: ['contact'] }, at: 5000 }],
        parked: [],
      });

      expect(await store.records.getRecord('customer', 'CC-1')).toEqual(rec);
      const audit = await store.records.listAudit('customer', 'CC-1', { limit: 10 });
      expect(audit.map((a) => [a.field, a.oldValue, a.newValue, a.version, a.eventId])).toEqual([
        ['name', undefined, 'Ana', 1, e!.eventId],
        ['email', undefined, 'ana@example.com', 1, e!.eventId],
      ]);
      const trace = await store.records.getEvent(e!.eventId);
      expect(trace).toMatchObject({ status: 'processed', processedAt: 5000, result: { version: 1, changedParts: ['contact'] } });
      expect(trace!.changes).toEqual([{ version: 1, rule: 'r', changedParts: ['contact'], diffs: [{ part: 'contact', field: 'name', newValue: 'Ana' }, { part: 'contact', field: 'email', newValue: 'ana@example.com' }], at: 5000 }]);
      expect((await store.inbox.claimBatch(10)).events).toEqual([]);
    });

    it('writes nothing from a batch whose record moved since the claim (StaleBatchError)', async () => {
      const [e1, e2] = [inboxEvent('CC-1'), inboxEvent('CC-1')];
      await store.inbox.accept([e1!, e2!]);
      await store.inbox.commitBatch({ ...emptyBatch(), records: [{ record: record('CC-1', 1, { contact: { name: 'A' } }), expectedVersion: 0 }] });
      const claimed = await store.inbox.claimBatch(10);
      const stale: BatchCommit = {
        records: [{ record: record('CC-1', 2, { contact: { name: 'B' } }), expectedVersion: 5 }],
        audit: [{ part: 'contact', field: 'name', oldValue: 'A', newValue: 'B', entity: 'customer', key: 'CC-1', version: 2, rule: 'r', eventId: e1!.eventId, flowId: 'f', at: 1 }],
        changes: [],
        deliveries: [],
        digestItems: [],
        processed: claimed.events.map((e) => ({ seq: e.seq, eventId: e.eventId, result: { entity: 'customer', key: 'CC-1', version: 2, changedParts: [] }, at: 1 })),
        parked: [],
      };
      await expect(store.inbox.commitBatch(stale)).rejects.toBeInstanceOf(StaleBatchError);
      // A record that already exists cannot be created again either.
      await expect(store.inbox.commitBatch({ ...stale, records: [{ record: record('CC-1', 1, {}), expectedVersion: 0 }] })).rejects.toBeInstanceOf(StaleBatchError);
      expect(await store.records.listAudit('customer', 'CC-1', { limit: 10 })).toEqual([]);
      expect((await store.records.getRecord('customer', 'CC-1'))!.version).toBe(1);
      expect((await store.inbox.claimBatch(10)).events).toHaveLength(2);
    });

    it('finds a batch stale when another worker already wrote the change of the version it meant to write', async () => {
      // Both workers read version 1: the other one's change 2 landed first, so ours collides with it.
      const [e1, e2] = [inboxEvent('CC-7'), inboxEvent('CC-7')];
      await store.inbox.accept([e1!, e2!]);
      const v1 = record('CC-7', 1, { contact: { name: 'A' } });
      await store.inbox.commitBatch({ ...emptyBatch(), records: [{ record: v1, expectedVersion: 0 }] });
      const [first, second] = (await store.inbox.claimBatch(10)).events;
      const commitOf = (event: typeof first, name: string): BatchCommit => {
        const v2 = record('CC-7', 2, { contact: { name } });
        return {
          ...emptyBatch(),
          records: [{ record: v2, expectedVersion: 1 }],
          changes: [{ entity: 'customer', key: 'CC-7', version: 2, eventId: event!.eventId, flowId: event!.flowId, rule: 'r', changedParts: ['contact'], diffs: [], record: v2, at: 2 }],
          processed: [{ seq: event!.seq, eventId: event!.eventId, result: { entity: 'customer', key: 'CC-7', version: 2, changedParts: ['contact'] }, at: 2 }],
        };
      };
      await store.inbox.commitBatch(commitOf(first, 'B'));
      await expect(store.inbox.commitBatch(commitOf(second, 'C'))).rejects.toBeInstanceOf(StaleBatchError);
      expect((await store.records.getRecord('customer', 'CC-7'))!.parts).toEqual({ contact: { name: 'B' } });
      expect((await store.inbox.claimBatch(10)).events.map((e) => e.eventId)).toEqual([e2!.eventId]);
    });

    it('refuses to settle an event twice', async () => {
      const e = inboxEvent('CC-9');
      await store.inbox.accept([e]);
      const [claimed] = (await store.inbox.claimBatch(1)).events;
      const done = { ...emptyBatch(), processed: [{ seq: claimed!.seq, eventId: e.eventId, result: { entity: 'customer', key: 'CC-9', version: 0, changedParts: [] }, at: 1 }] };
      await store.inbox.commitBatch(done);
      await expect(store.inbox.commitBatch(done)).rejects.toBeInstanceOf(StaleBatchError);
    });

    it('parks a key: its events are held back, others flow; retry and skip release it', async () => {
      const [p1, p2, other] = [inboxEvent('CC-1'), inboxEvent('CC-1'), inboxEvent('CC-2')];
      await store.inbox.accept([p1!, p2!, other!]);
      const error = { code: 'RULE_FAILED', message: 'boom', details: { why: 'test' } };
      await store.inbox.commitBatch({ ...emptyBatch(), parked: [{ entity: 'customer', key: 'CC-1', eventId: p1!.eventId, error, parkedAt: 77 }] });

      expect((await store.inbox.claimBatch(10)).events.map((e) => e.eventId)).toEqual([other!.eventId]);
      expect(await store.inbox.listParked()).toEqual([{ entity: 'customer', key: 'CC-1', eventId: p1!.eventId, error, parkedAt: 77, waiting: 2 }]);
      // Events that arrive for a parked key wait behind it and are counted.
      const [p3, other2] = [inboxEvent('CC-1'), inboxEvent('CC-2')];
      await store.inbox.accept([p3!, other2!]);
      expect((await store.inbox.listParked()).map((p) => p.waiting)).toEqual([3]);
      expect((await store.inbox.claimBatch(10)).events.map((e) => e.eventId)).toEqual([other!.eventId, other2!.eventId]);
      expect(await store.records.getEvent(p1!.eventId)).toMatchObject({ status: 'parked', error });
      expect((await store.stats()).parkedKeys).toBe(1);

      expect(await store.inbox.retryParked('customer', 'CC-1')).toBe(true);
      expect(await store.inbox.retryParked('customer', 'CC-1')).toBe(false);
      expect((await store.inbox.claimBatch(10)).events.map((e) => e.eventId)).toEqual([p1!.eventId, p2!.eventId, other!.eventId, p3!.eventId, other2!.eventId]);

      await store.inbox.commitBatch({ ...emptyBatch(), parked: [{ entity: 'customer', key: 'CC-1', eventId: p1!.eventId, error, parkedAt: 78 }] });
      expect(await store.inbox.skipParked('customer', 'CC-1')).toEqual({ skippedEventId: p1!.eventId });
      expect(await store.inbox.skipParked('customer', 'CC-1')).toBeUndefined();
      expect((await store.records.getEvent(p1!.eventId))!.status).toBe('skipped');
      expect((await store.inbox.claimBatch(10)).events.map((e) => e.eventId)).toEqual([p2!.eventId, other!.eventId, p3!.eventId, other2!.eventId]);
      expect(await store.inbox.listParked()).toEqual([]);
    });

    it('counts the queued events, not the parked or processed ones', async () => {
      const [a, b, c] = [inboxEvent('CC-1'), inboxEvent('CC-2'), inboxEvent('CC-3')];
      await store.inbox.accept([a!, b!, c!]);
      const claimed = (await store.inbox.claimBatch(10)).events;
      await store.inbox.commitBatch({
        ...emptyBatch(),
        processed: [{ seq: claimed[0]!.seq, eventId: a!.eventId, result: { entity: 'customer', key: 'CC-1', version: 0, changedParts: [] }, at: 1 }],
        parked: [{ entity: 'customer', key: 'CC-2', eventId: b!.eventId, error: { code: 'RULE_FAILED', message: 'boom' }, parkedAt: 1 }],
      });
      expect(await store.inbox.queued()).toBe(1);
    });

    it("reports the backlog: queued events, the oldest one's acceptance time, parked keys", async () => {
      expect(await store.inbox.backlog()).toEqual({ queued: 0, oldestAcceptedAt: null, parkedKeys: 0 });
      const [a, b, c] = [inboxEvent('CC-1', { acceptedAt: 5000 }), inboxEvent('CC-2', { acceptedAt: 4000 }), inboxEvent('CC-3', { acceptedAt: 6000 })];
      await store.inbox.accept([a!, b!, c!]);
      const claimed = (await store.inbox.claimBatch(10)).events;
      await store.inbox.commitBatch({
        ...emptyBatch(),
        processed: [{ seq: claimed[0]!.seq, eventId: a!.eventId, result: { entity: 'customer', key: 'CC-1', version: 0, changedParts: [] }, at: 1 }],
        parked: [{ entity: 'customer', key: 'CC-2', eventId: b!.eventId, error: { code: 'RULE_FAILED', message: 'boom' }, parkedAt: 1 }],
      });
      // The oldest queued event is the first in the queue: CC-1 was processed and CC-2 parked, so CC-3.
      expect(await store.inbox.backlog()).toEqual({ queued: 1, oldestAcceptedAt: 6000, parkedKeys: 1 });
    });
  });
}
