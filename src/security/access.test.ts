// Access on a real SQLite file: configured keys, stored keys by hash, the
// short cache that lets a revocation from another connection (another process)
// take effect without a restart, and "last used" written at most once a minute.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support/index.js';
import { SqliteStore } from '../store/sqlite/index.js';
import { Access, hashKey } from './access.js';
import { createApiKey } from './api-keys.js';

describe('Access', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let other: SqliteStore;
  let now: number;
  const access = (over: { cacheMs?: number } = {}) =>
    new Access({ store: store.access, apiKeys: ['ck_configured_0123456789'], adminTokens: ['cadm_configured_0123456789'], clock: () => now, ...over });

  beforeEach(async () => {
    dir = tempDir();
    store = new SqliteStore({ path: join(dir.path, 'c.db') });
    other = new SqliteStore({ path: join(dir.path, 'c.db') });
    await store.init();
    await other.init();
    now = 1_700_000_000_000;
  });
  afterEach(async () => {
    await store.close();
    await other.close();
    dir.remove();
  });

  it('gives the configured API key ingest alone and the admin token read, operate and admin', async () => {
    const a = access();
    expect(await a.identify('ck_configured_0123456789')).toMatchObject({ name: 'config:api-key', scopes: new Set(['ingest']), events: null });
    expect(await a.identify('cadm_configured_0123456789')).toMatchObject({ name: 'config:admin-token', scopes: new Set(['read', 'operate', 'admin']) });
    expect(await a.identify(undefined)).toBeUndefined();
    expect(await a.identify('')).toBeUndefined();
    expect(await a.identify('ck_nope')).toBeUndefined();
  });

  it('keeps only the hash of a stored key and finds the key by it', async () => {
    const { key } = await createApiKey(store.access, { name: 'crm', scopes: ['ingest'], events: ['crm:contact:updated'] }, now);
    const [row] = await store.access.listKeys();
    expect(JSON.stringify(row)).not.toContain(key);
    expect(await store.access.findKey(hashKey(key))).toMatchObject({ name: 'crm' });
    expect(await access().identify(key)).toMatchObject({ name: 'crm', scopes: new Set(['ingest']), events: new Set(['crm:contact:updated']) });
  });

  it('stops accepting a key revoked through another connection once its cached answer expires', async () => {
    const a = access({ cacheMs: 1000 });
    const { key } = await createApiKey(store.access, { name: 'ops', scopes: ['operate'] }, now);
    expect(await a.identify(key)).toMatchObject({ name: 'ops' });
    expect(await other.access.revokeKey('ops', now)).toBe(true);
    now += 999;
    expect(await a.identify(key)).toMatchObject({ name: 'ops' }); // still cached
    now += 1;
    expect(await a.identify(key)).toBeUndefined();
  });

  it('forgets cached answers on demand, so a revocation in this process counts at once', async () => {
    const a = access({ cacheMs: 60_000 });
    const { key } = await createApiKey(store.access, { name: 'ops', scopes: ['operate'] }, now);
    expect(await a.identify(key)).toBeDefined();
    await store.access.revokeKey('ops', now);
    a.forget();
    expect(await a.identify(key)).toBeUndefined();
  });

  it('notes "last used" at most once a minute per key', async () => {
    const a = access({ cacheMs: 0 });
    const { key } = await createApiKey(store.access, { name: 'crm', scopes: ['ingest'] }, now);
    const lastUsed = async () => (await store.access.listKeys())[0]?.lastUsedAt;
    await a.identify(key);
    await new Promise((r) => setImmediate(r));
    expect(await lastUsed()).toBe(now);
    const first = now;
    now += 59_999;
    await a.identify(key);
    await new Promise((r) => setImmediate(r));
    expect(await lastUsed()).toBe(first);
    now += 1;
    await a.identify(key);
    await new Promise((r) => setImmediate(r));
    expect(await lastUsed()).toBe(now);
  });

  it('refuses key requests that make no sense', async () => {
    await expect(createApiKey(store.access, { name: 'x', scopes: ['read'], events: ['a'] }, now)).rejects.toThrow(/event list limits the ingest scope/);
    await expect(createApiKey(store.access, { name: 'x', scopes: ['ingest', 'read'], signed: true }, now)).rejects.toThrow(/ingest scope alone/);
    await expect(createApiKey(store.access, { name: 'has space', scopes: ['read'] }, now)).rejects.toThrow(/a name is/);
    await createApiKey(store.access, { name: 'x', scopes: ['read'] }, now);
    await expect(createApiKey(store.access, { name: 'x', scopes: ['read'] }, now)).rejects.toMatchObject({ code: 'KEY_NAME_TAKEN' });
  });
});
