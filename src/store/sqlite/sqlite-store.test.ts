import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/support/index.js';
import { describeStoreContract } from '../store.contract.js';
import { SqliteStore } from './sqlite-store.js';

const openSqlite = async () => {
  const dir = tempDir();
  const store = new SqliteStore({ path: join(dir.path, 'contract.db') });
  await store.init();
  return { store, cleanup: async () => (await store.close(), dir.remove()) };
};

describeStoreContract('sqlite', openSqlite);

describe('SqliteStore', () => {
  it('keeps accepted events across a close and reopen of the file', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'nested', 'confluo.db');
    const first = new SqliteStore({ path });
    await first.init();
    await first.inbox.accept([{ eventId: 'x', name: 'a:b', version: 1, flowId: 'f', entity: 'customer', key: 'K', envelope: {}, acceptedAt: 1 }]);
    await first.close();
    const second = new SqliteStore({ path });
    await second.init();
    expect((await second.records.getEvent('x'))?.status).toBe('queued');
    await second.close();
    dir.remove();
  });

  it('refuses a database whose schema is newer than this code', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'confluo.db');
    const store = new SqliteStore({ path });
    await store.init();
    await store.close();
    const db = new Database(path);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, 0)').run('from the future');
    db.close();
    const again = new SqliteStore({ path });
    await expect(again.init()).rejects.toThrow(/schema is version 999/);
    await again.close();
    dir.remove();
  });
});
