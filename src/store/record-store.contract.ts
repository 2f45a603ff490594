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

    it('lists a flow\'s events oldest first with their changes and the source run that emitted them', async () => {
      const pulled = inboxEvent('CC-1', {
        flowId: 'flow-1',
        envelope: { name: 'crm:contact:updated', version: 1, payload: {}, metadata: { origin: 'source', source: 'crm', runId: 'run-1', itemId: 'i-1' } },
      });
      const pushed = inboxEvent('CC-1', { flowId: 'flow-1', envelope: { metadata: { origin: 'source', source: 7 } } });
      const other = inboxEvent('CC-1', { flowId: 'flow-2' });
      const outcomes = await store.inbox.accept([pulled, other, pushed]);
      const seqs = outcomes.map((o) => (o.status === 'accepted' ? o.seq : -1));
      const change = (eventId: string, version: number, email: string) => ({
        entity: 'customer', key: 'CC-1', version, eventId, flowId: 'flow-1', rule: `r${version}`, changedParts: ['contact'],
        diffs: [{ part: 'contact', field: 'email', oldValue: undefined, newValue: email }], record: record('CC-1', version, { contact: { email } }), at: 5000 + version,
      });
      await store.inbox.commitBatch({
        ...emptyBatch(),
        records: [{ record: record('CC-1', 1, { contact: { email: 'a@x' } }), expectedVersion: 0 }],
        changes: [change(pulled.eventId, 1, 'a@x')],
        processed: [{ seq: seqs[0]!, eventId: pulled.eventId, result: { entity: 'customer', key: 'CC-1', version: 1, changedParts: ['contact'] }, at: 5001 }],
      });
      await store.inbox.commitBatch({
        ...emptyBatch(),
        parked: [{ entity: 'customer', key: 'CC-1', eventId: pushed.eventId, error: { code: 'RULE_FAILED', message: 'boom' }, parkedAt: 6000 }],
      });
      const flow = await store.records.listFlowEvents('flow-1', 10);
      expect(flow.map((e) => [e.eventId, e.status, e.origin])).toEqual([
        [pulled.eventId, 'processed', { source: 'crm', runId: 'run-1', itemId: 'i-1' }],
        [pushed.eventId, 'parked', null],
      ]);
      expect(flow[0]!.changes).toEqual([{ version: 1, rule: 'r1', changedParts: ['contact'], diffs: [{ part: 'contact', field: 'email', newValue: 'a@x' }], at: 5001 }]);
      expect(flow[1]).toMatchObject({ changes: [], error: { code: 'RULE_FAILED', message: 'boom' }, processedAt: null });
      expect((await store.records.listFlowEvents('flow-1', 1)).map((e) => e.eventId)).toEqual([pulled.eventId]);
      expect(await store.records.listFlowEvents('no-such-flow', 10)).toEqual([]);
    });

    it('lists one field\'s history oldest first, keeping the newest entries when cut', async () => {
      const entry = (version: number, part: string, field: string, newValue: unknown, key = 'CC-1') => ({
        entity: 'customer', key, version, part, field, oldValue: undefined, newValue, rule: `r${version}`, eventId: `h-${version}`, flowId: 'f', at: version * 100,
      });
      await store.inbox.commitBatch({
        ...emptyBatch(),
        audit: [entry(1, 'contact', 'email', 'a'), entry(1, 'contact', 'phone', '1'), entry(2, 'crm', 'email', 'other part'), entry(3, 'contact', 'email', 'b'), entry(4, 'contact', 'email', 'c', 'CC-2'), entry(5, 'contact', 'email', null)],
      });
      const history = await store.records.listFieldHistory('customer', 'CC-1', 'contact', 'email', 10);
      expect(history.map((a) => [a.version, a.newValue, a.rule, a.eventId])).toEqual([[1, 'a', 'r1', 'h-1'], [3, 'b', 'r3', 'h-3'], [5, null, 'r5', 'h-5']]);
      expect((await store.records.listFieldHistory('customer', 'CC-1', 'contact', 'email', 2)).map((a) => a.version)).toEqual([3, 5]);
      expect(await store.records.listFieldHistory('customer', 'CC-1', 'contact', 'fax', 10)).toEqual([]);
    });

    it('knows no record or event it was never given', async () => {
      expect(await store.records.getRecord('customer', 'nobody')).toBeUndefined();
      expect(await store.records.getEvent('never-sent')).toBeUndefined();
    });
  });
}
