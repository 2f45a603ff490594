// The group commit on a real SQLite file: what one tick submits commits in one
// transaction, each caller gets its own outcomes, and a bulk share is never split.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support/index.js';
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
    const writer = new InboxWriter(store.inbox, { onAccepted: () => (commits += 1) });
    const [a, bulk, again] = await Promise.all([
      writer.submit(event('a')),
      writer.submitMany([event('b'), event('a'), event('c'), event('c')]),
      writer.submit(event('b')),
    ]);
    expect(a.status).toBe('accepted');
    expect(bulk.map((o) => (o instanceof Error ? o : o.status))).toEqual(['accepted', 'duplicate', 'accepted', 'duplicate']);
    expect(again.status).toBe('duplicate');
    expect(commits).toBe(1);
    const db = new Database(path, { readonly: true });
    expect((db.prepare('SELECT event_id FROM inbox ORDER BY seq').all() as Array<{ event_id: string }>).map((r) => r.event_id)).toEqual(['a', 'b', 'c']);
    db.close();
  });

  it('commits a bulk share in one transaction even past maxBatch', async () => {
    const path = await open();
    const db = new Database(path);
    const writer = new InboxWriter(store.inbox, { maxBatch: 2 });
    let transactions = 0;
    const accept = store.inbox.accept.bind(store.inbox);
    store.inbox.accept = (events) => ((transactions += 1), accept(events));
    const bulk = await writer.submitMany(['e0', 'e1', 'e2', 'e3', 'e4'].map(event));
    expect(bulk.map((o) => (o instanceof Error ? o : o.status))).toEqual(Array(5).fill('accepted'));
    expect(transactions).toBe(1);
    db.close();
  });

  it('fails only the event the store cannot write: the rest of its bulk and of its group commit are accepted', async () => {
    const path = await open();
    const db = new Database(path);
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.event_id = 'e3' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    const writer = new InboxWriter(store.inbox);
    const [before, bulk, after] = await Promise.allSettled([
      writer.submit(event('before')),
      writer.submitMany(['e0', 'e1', 'e2', 'e3', 'e4'].map(event)),
      writer.submit(event('after')),
    ]);
    expect(before).toMatchObject({ status: 'fulfilled', value: { status: 'accepted' } });
    expect(after).toMatchObject({ status: 'fulfilled', value: { status: 'accepted' } });
    const outcomes = (bulk as PromiseFulfilledResult<Array<{ status: string } | Error>>).value;
    expect(outcomes.map((o) => (o instanceof Error ? o.message : o.status))).toEqual(['accepted', 'accepted', 'accepted', 'disk on fire', 'accepted']);
    expect((db.prepare('SELECT event_id FROM inbox ORDER BY seq').all() as Array<{ event_id: string }>).map((r) => r.event_id)).toEqual(['before', 'e0', 'e1', 'e2', 'e4', 'after']);
    db.close();
  });

  it('answers a lone event the store cannot write with the error, and keeps taking others', async () => {
    const path = await open();
    const db = new Database(path);
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.event_id = 'bad' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    const writer = new InboxWriter(store.inbox);
    const [bad, good] = await Promise.allSettled([writer.submit(event('bad')), writer.submit(event('good'))]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { message: 'disk on fire' } });
    expect(good).toMatchObject({ status: 'fulfilled', value: { status: 'accepted' } });
    expect((db.prepare('SELECT event_id FROM inbox').all() as Array<{ event_id: string }>).map((r) => r.event_id)).toEqual(['good']);
    db.close();
  });
});
