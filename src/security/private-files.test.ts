// The files that hold customer records and secrets are the owner's alone,
// whatever the umask: the SQLite file, its WAL and SHM, credentials.json, and
// the folders Confluo makes for them.
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support/index.js';
import { loadCredentials } from '../hub/credentials.js';
import { SqliteStore } from '../store/sqlite/index.js';
import type { ModeReport } from './private-files.js';

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

const undo: Array<() => void> = [];
afterEach(() => {
  for (const step of undo.splice(0).reverse()) step();
});

function withUmask(mask: number): void {
  const before = process.umask(mask);
  undo.push(() => process.umask(before));
}

function folder(): string {
  const dir = tempDir('confluo-modes-');
  undo.push(dir.remove);
  return dir.path;
}

async function storeWithWal(path: string, onLooseModes?: (report: ModeReport) => void): Promise<SqliteStore> {
  const store = new SqliteStore({ path, ...(onLooseModes ? { onLooseModes } : {}) });
  await store.init();
  await store.inbox.accept([{ eventId: 'e1', name: 'crm:contact:updated', version: 1, flowId: 'f1', entity: 'customer', key: 'CC-1', envelope: {}, acceptedAt: Date.now() }]);
  return store;
}

describe('private files', () => {
  for (const mask of [0o022, 0o000]) {
    it(`a new SQLite store makes its folders 0700 and its file, WAL and SHM 0600 (umask ${mask.toString(8).padStart(3, '0')})`, async () => {
      withUmask(mask);
      const root = folder();
      const path = join(root, 'data', 'nested', 'confluo.db');
      const store = await storeWithWal(path);
      try {
        expect(existsSync(`${path}-wal`) && existsSync(`${path}-shm`)).toBe(true);
        expect([mode(join(root, 'data')), mode(join(root, 'data', 'nested'))]).toEqual(['700', '700']);
        expect([mode(path), mode(`${path}-wal`), mode(`${path}-shm`)]).toEqual(['600', '600', '600']);
      } finally {
        await store.close();
      }
    });

    it(`generated credentials are 0600 in a 0700 folder (umask ${mask.toString(8).padStart(3, '0')})`, () => {
      withUmask(mask);
      const dataDir = join(folder(), 'data');
      const credentials = loadCredentials({ dataDir });
      expect(credentials.generated).toEqual(['apiKey', 'adminToken']);
      expect([mode(dataDir), mode(credentials.file)]).toEqual(['700', '600']);
    });
  }

  it('an existing database readable by others is tightened on open and reported; a shared folder is reported and left', async () => {
    withUmask(0o022);
    const dir = join(folder(), 'shared');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const path = join(dir, 'confluo.db');
    await (await storeWithWal(path)).close();
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      writeFileSync(file, '', { flag: 'a' });
      chmodSync(file, 0o644);
    }

    const reports: ModeReport[] = [];
    const store = await storeWithWal(path, (report) => reports.push(report));
    try {
      expect(reports).toEqual([{ tightened: [path, `${path}-wal`, `${path}-shm`], openDirs: [dir] }]);
      expect([mode(path), mode(`${path}-wal`), mode(`${path}-shm`), mode(dir)]).toEqual(['600', '600', '600', '755']);
    } finally {
      await store.close();
    }
  });

  it('a stored credentials file readable by others is tightened and reported', () => {
    const dataDir = folder();
    const first = loadCredentials({ dataDir });
    chmodSync(first.file, 0o644);
    const again = loadCredentials({ dataDir });
    expect(again.apiKeys).toEqual(first.apiKeys);
    expect(again.modes.tightened).toEqual([first.file]);
    expect(mode(first.file)).toBe('600');
  });
});
