// Accepting with synchronous 'full' flushes the WAL through a file handle of
// its own, off the event loop: one handle for the store's life, closed with it.
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/support/index.js';
import type { NewInboxEvent } from '../types.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';

/** This process's open file descriptors on `path` (Linux /proc). */
const handlesOn = (path: string) =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;

const event = (id: string): NewInboxEvent => ({ eventId: id, name: 'a:b', version: 1, flowId: 'f', entity: 'customer', key: 'K', envelope: {}, acceptedAt: 1 });

/** Handles on the WAL after some accepts, and after close. */
async function walHandles(synchronous: SqliteStoreOptions['synchronous']) {
  const dir = tempDir();
  const path = join(dir.path, 'flush.db');
  const store = new SqliteStore({ path, synchronous });
  await store.init();
  const outcomes = await Promise.all([store.inbox.accept([event('1')]), store.inbox.accept([event('2'), event('1')]), store.inbox.accept([event('3')])]);
  const open = handlesOn(`${path}-wal`);
  await store.close();
  const closed = handlesOn(`${path}-wal`);
  dir.remove();
  return { outcomes: outcomes.flat().map((o) => o.status), open, closed };
}

describe.runIf(existsSync('/proc/self/fd'))('SqliteStore inbox.accept flushing the WAL', () => {
  it('holds one handle of its own on the WAL across accepts, beside SQLite, and closes it with the store', async () => {
    const normal = await walHandles('normal');
    const full = await walHandles('full');
    expect(full.outcomes).toEqual(['accepted', 'accepted', 'duplicate', 'accepted']);
    expect(full.outcomes).toEqual(normal.outcomes);
    expect(full.open).toBe(normal.open + 1);
    expect(full.closed).toBe(0);
  });
});

describe('SqliteStore inbox.accept without a WAL', () => {
  it('accepts in memory, where there is no WAL file to flush, with SQLite syncing itself', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.init();
    expect((await store.inbox.accept([event('m1'), event('m1')])).map((o) => o.status)).toEqual(['accepted', 'duplicate']);
    await store.close();
  });
});
