// Linking in the processor, batch by batch: one value, two records in one
// batch; a value a record held before its identifier was declared; a
// normaliser that throws. (End to end, over HTTP and on both drivers:
// test/identity.test.ts.)
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { memberFlow } from '../../test/support/flows.js';
import { tempDir } from '../../test/support/index.js';
import { defineEntity, defineEvent, defineFlow, defineRule, type Flow } from '../flow/index.js';
import { inboxEvent } from '../store/contract-fixtures.js';
import { SqliteStore } from '../store/sqlite/index.js';
import type { NewInboxEvent } from '../store/types.js';
import { Processor } from './processor.js';

let n = 0;
const update = (id: string, email: string): NewInboxEvent =>
  inboxEvent(id, { name: 'crm:member:updated', entity: 'member', envelope: { payload: { id, name: `${id}-${(n += 1)}`, email }, identity: {}, metadata: {} } });

describe('linking identifier values in the processor', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  afterEach(async () => {
    await store?.close();
    dir?.remove();
  });

  async function open(flow: Flow = memberFlow): Promise<Processor> {
    dir = tempDir();
    store = new SqliteStore({ path: join(dir.path, 'identity.db') });
    await store.init();
    return new Processor(store.inbox, flow, pino({ level: 'silent' }), { batchSize: 100 });
  }
  const status = async (id: string) => (await store.records.getEvent(id))?.status;
  const values = async (key: string) => (await store.records.listIdentifiers('member', key)).map((l) => l.value);

  it('gives a value wanted by two records of one batch to the first, and parks the second', async () => {
    const processor = await open();
    const [a, b, c] = [update('M-1', 'same@example.com'), update('M-2', 'SAME@example.com'), update('M-3', 'own@example.com')];
    await store.inbox.accept([a, b, c]);
    expect(await processor.runOnce()).toBe(3); // one batch
    expect([await status(a.eventId), await status(b.eventId), await status(c.eventId)]).toEqual(['processed', 'parked', 'processed']);
    expect((await store.inbox.listParked())[0]).toMatchObject({ key: 'M-2', error: { code: 'IDENTIFIER_CONFLICT', details: { holder: 'M-1' } } });
    expect(await values('M-1')).toEqual(['same@example.com']);
    expect(await values('M-3')).toEqual(['own@example.com']);
  });

  it('links a value the record held before its identifier was declared, at the next write of its part', async () => {
    const processor = await open();
    const record = { entity: 'member', key: 'M-9', version: 1, parts: { contact: { name: 'x', email: 'Old@example.com' } }, createdAt: 1, updatedAt: 1 };
    await store.inbox.commitBatch({ records: [{ record, expectedVersion: 0 }], audit: [], changes: [], deliveries: [], digestItems: [], processed: [], parked: [] });
    expect(await values('M-9')).toEqual([]);
    await store.inbox.accept([update('M-9', 'Old@example.com')]); // a new name, the same email
    await processor.runOnce();
    expect(await values('M-9')).toEqual(['old@example.com']);
  });

  it('parks the one event whose value a normaliser throws on, and goes on with the others', async () => {
    const person = defineEntity({
      name: 'member',
      key: { fields: ['id'] },
      parts: { contact: z.object({ name: z.string(), email: z.string() }) },
      identifiers: {
        email: {
          from: 'contact.email',
          normalise: (v) => {
            if (v.includes('!')) throw new Error('no "!" in emails');
            return v;
          },
        },
      },
    });
    const updated = defineEvent({ name: 'crm:member:updated', entity: person, payload: z.object({ id: z.string(), name: z.string(), email: z.string() }), key: (p) => ({ id: p.id }) });
    const flow = defineFlow({ entities: [person], events: [updated], rules: [defineRule({ event: updated, parts: ['contact'], apply: ({ payload }) => ({ contact: { name: payload.name, email: payload.email } }) })] });
    const processor = await open(flow);
    const [bad, good] = [update('M-1', 'a!@example.com'), update('M-2', 'b@example.com')];
    await store.inbox.accept([bad, good]);
    await processor.runOnce();
    expect(await status(good.eventId)).toBe('processed');
    expect((await store.inbox.listParked())[0]).toMatchObject({ key: 'M-1', error: { code: 'IDENTIFIER_INVALID', message: 'the email normaliser threw: no "!" in emails' } });
  });
});
