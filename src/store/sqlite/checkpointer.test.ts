// WAL checkpoints run on their own thread: committed pages reach the database
// file without a commit doing it, the connection keeps only a high backstop
// threshold, and a failed thread hands checkpoints back to the connection.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/support/index.js';
import type { NewInboxEvent } from '../types.js';
import { BACKSTOP_PAGES, Checkpointer } from './checkpointer.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';

const events = (from: number, count: number): NewInboxEvent[] =>
  Array.from({ length: count }, (_, i) => ({
    eventId: `e${from + i}`,
    name: 'a:b',
    version: 1,
    flowId: 'f',
    entity: 'customer',
    key: `K${from + i}`,
    envelope: { padding: 'x'.repeat(2000) },
    acceptedAt: 1,
  }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes about 300 pages (well under SQLite's own 1,000-page threshold), then watches the database
 * file for up to `waitMs` (the thread checkpoints every 50 ms once it has started).
 */
async function afterSmallWrite(checkpoints: SqliteStoreOptions['checkpoints'], waitMs: number) {
  const dir = tempDir();
  const path = join(dir.path, 'c.db');
  const store = new SqliteStore({ path, checkpoints });
  await store.init();
  const before = statSync(path).size;
  for (let i = 0; i < 5; i += 1) await store.inbox.accept(events(i * 100, 100));
  const deadline = Date.now() + waitMs;
  while (statSync(path).size - before < 500 * 2000 && Date.now() < deadline) await sleep(25);
  const grown = statSync(path).size - before;
  const onThread = store.checkpointsOnThread;
  await store.close();
  // Every event is there after close, whoever checkpointed.
  const db = new Database(path, { readonly: true });
  const count = (db.prepare('SELECT count(*) AS n FROM inbox').get() as { n: number }).n;
  db.close();
  dir.remove();
  return { grown, onThread, count };
}

describe('SqliteStore WAL checkpoints', () => {
  it('copies committed pages into the database file on its own thread, without waiting for a commit to cross 1,000 pages', async () => {
    const thread = await afterSmallWrite('thread', 10_000);
    const commit = await afterSmallWrite('commit', 500);
    expect(thread.onThread).toBe(true);
    expect(commit.onThread).toBe(false);
    expect(thread.grown).toBeGreaterThan(500 * 2000);
    expect(commit.grown).toBe(0);
    expect(thread.count).toBe(500);
    expect(commit.count).toBe(500);
  });

  it('leaves the connection only a backstop threshold while the thread runs, and no thread to an in-memory store', async () => {
    const dir = tempDir();
    const db = new Database(join(dir.path, 'b.db'));
    db.pragma('journal_mode = WAL');
    const checkpointer = new Checkpointer(db, join(dir.path, 'b.db'));
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(BACKSTOP_PAGES);
    expect(checkpointer.running).toBe(true);
    await checkpointer.stop();
    db.close();
    dir.remove();
    const memory = new SqliteStore({ path: ':memory:' });
    await memory.init();
    expect(memory.checkpointsOnThread).toBe(false);
    await memory.close();
  });

  it('hands checkpoints back to the connection when the thread fails', async () => {
    const dir = tempDir();
    const db = new Database(join(dir.path, 'f.db'));
    db.pragma('journal_mode = WAL');
    let checkpointer: Checkpointer | undefined;
    const failure = await new Promise<Error>((resolve) => {
      checkpointer = new Checkpointer(db, join(dir.path, 'f.db'), { script: new URL('data:text/javascript,throw new Error("no thread today")'), onFailure: resolve });
    });
    expect(failure.message).toContain('no thread today');
    expect(checkpointer?.running).toBe(false);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await checkpointer?.stop();
    db.close();
    dir.remove();
  });
});
