// The group commit on a real SQLite file: what one tick submits commits in one
// transaction, each caller gets its own outcomes, and a bulk share is never split.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support.js';
import { SqliteStore } from '../store/sqlite/index.js';
import type { NewInboxEvent } from '../store/types.js';
import { InboxWriter } from './inbox-writer.js';

const event = (id: string): NewInboxEvent => ({ eventId: id, name: 'test:e', version: 1, flowId: `f-${id}`, entity: 'thing', key: 'k', envelope: { id }, acceptedAt: 1 });

describe('InboxWriter', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  afterEach(async () => {
    await store?.close();
    dir?.remove();
  });

  async function open() {
    dir = tempDir();
    const path = join(dir.path, 'inbox.db');
    store = new SqliteStore({ path });
    await store.init();
    return path;
  }

  it('answers single and bulk callers of one tick with their own outcomes, in submission order', async () => {
    const path = await open();
    let commits = 0;
    const writer = new InboxWriter(store, { onAccepted: () => (commits += 1) });
    const [a, bulk, again] = await Promise.all([
      writer.submit(event('a')),
      writer.submitMany([event('b'), event('a'), event('c'), event('c')]),
      writer.submit(event('b')),
    ]);
    expect(a.status).toBe('accepted');
    expect(bulk.map((o) => o.status)).toEqual(['accepted', 'duplicate', 'accepted', 'duplicate']);
    expect(again.status).toBe('duplicate');
    expect(commits).toBe(1);
    const db = new Database(path, { readonly: true });
    expect((db.prepare('SELECT event_id FROM inbox ORDER BY seq').all() as Array<{ event_id: string }>).map((r) => r.event_id)).toEqual(['a', 'b', 'c']);
    db.close();
  });

  it('commits a bulk share in one transaction even past maxBatch: a failure keeps none of it', async () => {
    const path = await open();
    const db = new Database(path);
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.event_id = 'e4' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    const writer = new InboxWriter(store, { maxBatch: 2 });
    const bulk = writer.submitMany(['e0', 'e1', 'e2', 'e3', 'e4'].map(event));
    const alone = writer.submit(event('other'));
    await expect(bulk).rejects.toThrow('disk on fire');
    // The next submission went in its own transaction (the bulk share alone passed maxBatch).
    expect((await alone).status).toBe('accepted');
    expect((db.prepare('SELECT event_id FROM inbox').all() as Array<{ event_id: string }>).map((r) => r.event_id)).toEqual(['other']);
    db.close();
  });
});
