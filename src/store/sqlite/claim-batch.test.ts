// The SQLite claim beyond the shared contract: it reads events joined with
// their records as column arrays, so every field must come back as written.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/support/index.js';
import { recordId } from '../store.js';
import type { NewInboxEvent } from '../types.js';
import { SqliteStore } from './sqlite-store.js';

describe('SqliteStore inbox.claimBatch', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  afterEach(async () => {
    await store?.close();
    dir?.remove();
  });

  it('returns each event with every field as accepted, and each key record once', async () => {
    dir = tempDir();
    store = new SqliteStore({ path: join(dir.path, 'claim.db') });
    await store.init();
    const event = (id: string, key: string): NewInboxEvent => ({ eventId: id, name: 'crm:contact:updated', version: 2, flowId: `f-${id}`, entity: 'customer', key, envelope: { id, payload: { n: id } }, acceptedAt: 1000 + id.length });
    const record = { entity: 'customer', key: 'CC-1', version: 3, parts: { contact: { name: 'Ana' } }, createdAt: 5, updatedAt: 6 };
    await store.inbox.commitBatch({ records: [{ record, expectedVersion: 0 }], audit: [], changes: [], deliveries: [], digestItems: [], processed: [], parked: [] });
    await store.inbox.accept([event('a', 'CC-1'), event('bb', 'CC-2'), event('ccc', 'CC-1')]);

    const { events, records } = await store.inbox.claimBatch(10);
    expect(events.map(({ seq: _seq, ...rest }) => rest)).toEqual(
      [event('a', 'CC-1'), event('bb', 'CC-2'), event('ccc', 'CC-1')].map((e) => ({ ...e, status: 'queued' })),
    );
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((x, y) => x - y));
    expect([...records]).toEqual([[recordId('customer', 'CC-1'), record]]);
  });
});
