// Scoped API keys over real HTTP on a real hub: an admin creates keys through
// the API, each scope opens what it names and nothing else, an ingest key may be
// limited to some events (`:forbidden` for the others, `:unauthorized` for a bad
// key), and a revocation counts at once here and within a second in a hub that
// only shares the database.
import pino from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flow as customerFlow } from '../examples/customer-sync/flow.js';
import { createHub } from '../src/hub/create-hub.js';
import { PostgresStore } from '../src/store/postgres/index.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { createTestDatabase } from './support/postgres.js';
import { ADMIN_TOKEN, apiCall as call, contact, envelope, eventually, startTestHub, type TestHub } from './support/index.js';

const update = (n: string) => envelope('crm:contact:updated', contact(n, 'Ana'));

describe('API keys with scopes', () => {
  let t: TestHub;
  const create = (body: unknown, token = ADMIN_TOKEN) => call(t.url, 'POST', '/api/v1/keys', token, body);
  beforeAll(async () => {
    t = await startTestHub({ process: false });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creates a key once (the answer is the only place it appears) and lists keys without it', async () => {
    const created = await create({ name: 'reporting', scopes: ['read'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'reporting', scopes: ['read'], events: null, signed: false, lastUsedAt: null, revokedAt: null, signingSecret: null });
    expect(created.body.key).toMatch(/^ck_[A-Za-z0-9_-]{32}$/);
    const listed = await call(t.url, 'GET', '/api/v1/keys', ADMIN_TOKEN);
    expect(listed.body.items.find((k: any) => k.name === 'reporting')).toEqual({
      name: 'reporting', scopes: ['read'], events: null, signed: false, createdAt: created.body.createdAt, lastUsedAt: null, revokedAt: null,
    });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    expect((await create({ name: 'reporting', scopes: ['read'] })).body.error.code).toBe('KEY_NAME_TAKEN');
    expect(await create({ name: 'bad name!', scopes: ['nope'] })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_REQUEST' } } });
  });

  it('opens to each scope what it names: read reads, operate acts, admin manages keys', async () => {
    const read = (await create({ name: 'reader', scopes: ['read'] })).body.key as string;
    const operate = (await create({ name: 'operator', scopes: ['operate'] })).body.key as string;
    const admin = (await create({ name: 'keeper', scopes: ['admin'] })).body.key as string;

    expect((await call(t.url, 'GET', '/api/v1/parked', read)).status).toBe(200);
    expect(await call(t.url, 'POST', '/api/v1/parked/customer/CC-1/retry', read)).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect((await call(t.url, 'GET', '/api/v1/keys', read)).status).toBe(403);

    expect((await call(t.url, 'POST', '/api/v1/parked/customer/CC-1/retry', operate)).body.error.code).toBe('NOT_PARKED');
    expect((await call(t.url, 'GET', '/api/v1/parked', operate)).status).toBe(403);

    expect((await call(t.url, 'GET', '/api/v1/keys', admin)).status).toBe(200);
    expect((await call(t.url, 'GET', '/api/v1/parked', admin)).status).toBe(403);
    expect(await call(t.url, 'GET', '/api/v1/parked', 'ck_made_up_key')).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
  });

  it('limits an ingest key to its events: other names are forbidden, a bad key unauthorized, a read key forbidden', async () => {
    const limited = (await create({ name: 'crm-only', scopes: ['ingest'], events: ['crm:contact:updated'] })).body.key as string;
    const reader = (await create({ name: 'reader-2', scopes: ['read'] })).body.key as string;
    const as = (key: string) => ({ authorization: `Bearer ${key}` });

    expect((await t.send(update('2001'), as(limited))).body.name).toBe('crm:contact:updated:response');
    const other = envelope('billing:subscription:changed', { documentType: 'CC', documentNumber: '2001', plan: 'pro', status: 'active' });
    expect((await t.send(other, as(limited))).body).toMatchObject({ name: 'billing:subscription:changed:forbidden', payload: { code: 'FORBIDDEN' } });
    expect((await t.send(update('2002'), as(reader))).body.name).toBe('crm:contact:updated:forbidden');
    expect((await t.send(update('2003'), as('ck_made_up_key'))).body).toMatchObject({ name: 'crm:contact:updated:unauthorized', payload: { code: 'UNAUTHORIZED' } });
    // The token inside the envelope works as the header does.
    expect((await t.send({ ...other, auth: { token: limited } }, {})).body.name).toBe('billing:subscription:changed:forbidden');

    // Bulk: one answer per envelope, decided per event name.
    const response = await request(`${t.url}/events/bulk`, { method: 'POST', headers: { 'content-type': 'application/json', ...as(limited) }, body: JSON.stringify([update('2004'), other, update('2005')]) });
    const answers = (await response.body.json()) as Array<{ name: string }>;
    expect(answers.map((a) => a.name)).toEqual(['crm:contact:updated:response', 'billing:subscription:changed:forbidden', 'crm:contact:updated:response']);
  });

  it('notes when a key was last used', async () => {
    const key = (await create({ name: 'used', scopes: ['read'] })).body.key as string;
    await call(t.url, 'GET', '/api/v1/parked', key);
    const listed = await eventually(async () => (await call(t.url, 'GET', '/api/v1/keys', ADMIN_TOKEN)).body.items.find((k: any) => k.name === 'used' && k.lastUsedAt));
    expect(Date.parse(listed.lastUsedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('refuses a key revoked through the API at once', async () => {
    const key = (await create({ name: 'short-lived', scopes: ['ingest'] })).body.key as string;
    expect((await t.send(update('2100'), { authorization: `Bearer ${key}` })).body.name).toBe('crm:contact:updated:response');
    expect(await call(t.url, 'DELETE', '/api/v1/keys/short-lived', ADMIN_TOKEN)).toMatchObject({ status: 200, body: { name: 'short-lived', revoked: true } });
    expect((await t.send(update('2101'), { authorization: `Bearer ${key}` })).body.name).toBe('crm:contact:updated:unauthorized');
    expect((await call(t.url, 'DELETE', '/api/v1/keys/short-lived', ADMIN_TOKEN)).status).toBe(404);
  });

  it('refuses, without a restart, a key revoked by another process on the same SQLite file', async () => {
    const key = (await create({ name: 'revoked-elsewhere', scopes: ['read'] })).body.key as string;
    expect((await call(t.url, 'GET', '/api/v1/parked', key)).status).toBe(200);
    const cli = new SqliteStore({ path: t.dbPath });
    await cli.init();
    const revokedAt = Date.now();
    expect(await cli.access.revokeKey('revoked-elsewhere', revokedAt)).toBe(true);
    await cli.close();
    await eventually(async () => (await call(t.url, 'GET', '/api/v1/parked', key)).status === 401, 3000, 'the revoked key to be refused');
    expect(Date.now() - revokedAt).toBeLessThan(2500);
  });
});

describe('API keys on PostgreSQL', () => {
  it('a key revoked through one hub is refused by another hub on the same database within a second', async () => {
    const db = await createTestDatabase('keys_revoke');
    const hubs = await Promise.all(
      [0, 1].map(async () => {
        const store = new PostgresStore({ url: db.url });
        await store.init();
        const hub = await createHub({ flow: customerFlow, store, apiKeys: [], adminTokens: [ADMIN_TOKEN], logger: pino({ level: 'silent' }), process: false, deliver: false, pull: false });
        return { hub, url: await hub.listen({ port: 0 }) };
      }),
    );
    try {
      const [a, b] = hubs as [(typeof hubs)[0], (typeof hubs)[0]];
      const key = (await call(a.url, 'POST', '/api/v1/keys', ADMIN_TOKEN, { name: 'shared', scopes: ['read'] })).body.key as string;
      expect((await call(b.url, 'GET', '/api/v1/parked', key)).status).toBe(200);
      expect((await call(a.url, 'DELETE', '/api/v1/keys/shared', ADMIN_TOKEN)).status).toBe(200);
      const revokedAt = Date.now();
      await eventually(async () => (await call(b.url, 'GET', '/api/v1/parked', key)).status === 401, 3000, 'hub b to refuse the key');
      expect(Date.now() - revokedAt).toBeLessThan(2500);
    } finally {
      await Promise.all(hubs.map((h) => h.hub.close()));
      await db.drop();
    }
  });
});
