// The RecordStore contract: records, the audit trail paged and cut at a time
// (what time travel reads), and event traces. Every driver runs it.
import { describe, expect, it } from 'vitest';
import { eachFreshStore, emptyBatch, inboxEvent, record, type StoreFixture } from './contract-fixtures.js';
import type { Store } from './store.js';

export function describeRecordStoreContract(driver: string, open: () => Promise<StoreFixture>): void {
  describe(`RecordStore contract: ${driver}`, () => {
    let store: Store;
    eachFreshStore(open, (opened) => {
      store = opened;
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
      await store.inbox.commitBatch({ ...emptyBatch(), audit: rows });
      const first = await store.records.listAudit('customer', 'CC-1', { limit: 2 });
      expect(first.map((a) => a.version)).toEqual([1, 2]);
      const rest = await store.records.listAudit('customer', 'CC-1', { limit: 10, after: first[1]!.id });
      expect(rest.map((a) => a.version)).toEqual([3, 4, 5]);
      expect((await store.records.listAudit('customer', 'CC-1', { limit: 10, until: 300 })).map((a) => a.version)).toEqual([1, 2, 3]);
      expect(await store.records.listAudit('customer', 'CC-2', { limit: 10 })).toEqual([]);
      const all = [...first, ...rest];
      expect(all[0]!.oldValue).toBeUndefined();
      expect(all[1]!.newValue).toBeNull();
      expect(all[2]!.oldValue).toBeNull();
      expect(all[4]!.newValue).toBeUndefined();
    });

    it('traces an event: its status, the changes it made and the deliveries they caused, in order', async () => {
      const e = inboxEvent('CC-1');
      const [accepted] = await store.inbox.accept([e]);
      const seq = accepted!.status === 'accepted' ? accepted!.seq : -1;
      const delivery = (deliveryId: string, integration: string, status: 'pending' | 'ignored') =>
        ({ deliveryId, integration, kind: 'change', entity: 'customer', key: 'CC-1', eventId: e.eventId, version: 1, request: { body: {} }, status, createdAt: 5000 }) as const;
      await store.inbox.commitBatch({
        ...emptyBatch(),
        records: [{ record: record('CC-1', 1, { contact: { name: 'Ana' } }, 5000), expectedVersion: 0 }],
        deliveries: [delivery('d-1', 'desk', 'pending'), { ...delivery('d-2', 'mail', 'ignored'), reason: 'filtered out' }],
        processed: [{ seq, eventId: e.eventId, result: { entity: 'customer', key: 'CC-1', version: 1, changedParts: ['contact'] }, at: 5000 }],
      });
      expect(await store.records.getEvent(e.eventId)).toEqual({
        eventId: e.eventId,
        name: e.name,
        version: e.version,
        flowId: e.flowId,
        entity: 'customer',
        key: 'CC-1',
        status: 'processed',
        acceptedAt: e.acceptedAt,
        processedAt: 5000,
        result: { entity: 'customer', key: 'CC-1', version: 1, changedParts: ['contact'] },
        error: null,
        changes: [],
        deliveries: [
          { deliveryId: 'd-1', integration: 'desk', status: 'pending', attempts: 0, totalAttempts: 0, lastError: null, lastStatus: null, createdAt: 5000, completedAt: null },
          { deliveryId: 'd-2', integration: 'mail', status: 'ignored', attempts: 0, totalAttempts: 0, lastError: 'filtered out', lastStatus: null, createdAt: 5000, completedAt: 5000 },
        ],
      });
    });

    it('knows no record or event it was never given', async () => {
      expect(await store.records.getRecord('customer', 'nobody')).toBeUndefined();
      expect(await store.records.getEvent('never-sent')).toBeUndefined();
    });
  });
}
