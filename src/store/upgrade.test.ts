// In-place upgrades: a database the last release made (its migrations, rows as
// it wrote them) opens with this code, migrates, and works through every part
// of the port. The release's schema is its migrations, which never change once
// released; only later ones are added. The upgraded schema is the one a fresh
// database gets.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.js';
import { postgresSchema, sqliteSchema } from '../../test/support/schema-shape.js';
import { tempDir } from '../../test/support/index.js';
import { MIGRATIONS as POSTGRES_MIGRATIONS } from './postgres/schema.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from './sqlite/schema.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';
import { recordId } from './store.js';

/** The newest migration of the last release (commit 88cc8fc) on each driver. */
const LAST_RELEASE = { sqlite: 4, postgres: 3 };

const SCHEMA_MIGRATIONS = 'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)';

/**
 * Rows as the last release wrote them, one or more in every table it had: a processed, a queued
 * and a parked event; a record with its audit and change; a pending delivery another process had
 * leased; a digest item; a source with a checkpoint, a run and a rejected item. Portable SQL.
 */
const RELEASE_ROWS = `
  INSERT INTO inbox (event_id, name, version, flow_id, entity, key, envelope, status, accepted_at, processed_at, result) VALUES
    ('e-1', 'crm:contact:updated', 1, 'f-1', 'customer', 'K1', '{"payload":{"n":1}}', 'processed', 1000, 1001,
     '{"entity":"customer","key":"K1","version":1,"changedParts":["crm"]}');
  INSERT INTO inbox (event_id, name, version, flow_id, entity, key, envelope, status, accepted_at) VALUES
    ('e-2', 'crm:contact:updated', 1, 'f-2', 'customer', 'K1', '{"payload":{"n":2}}', 'queued', 2000);
  INSERT INTO inbox (event_id, name, version, flow_id, entity, key, envelope, status, accepted_at, error) VALUES
    ('e-3', 'crm:contact:updated', 1, 'f-3', 'customer', 'K2', '{"payload":{"n":3}}', 'parked', 3000, '{"code":"RULE_FAILED","message":"boom"}');
  INSERT INTO parked (entity, key, event_id, error, parked_at) VALUES ('customer', 'K2', 'e-3', '{"code":"RULE_FAILED","message":"boom"}', 3001);
  INSERT INTO records (entity, key, version, parts, created_at, updated_at) VALUES ('customer', 'K1', 1, '{"crm":{"name":"Ada"}}', 1001, 1001);
  INSERT INTO audit (entity, key, version, part, field, old_value, new_value, rule, event_id, flow_id, at) VALUES
    ('customer', 'K1', 1, 'crm', 'name', NULL, '"Ada"', 'crm-sync', 'e-1', 'f-1', 1001);
  INSERT INTO changes (entity, key, version, event_id, flow_id, rule, changed_parts, diffs, record, at) VALUES
    ('customer', 'K1', 1, 'e-1', 'f-1', 'crm-sync', '["crm"]', '[{"part":"crm","field":"name","old":null,"new":"Ada"}]', '{"crm":{"name":"Ada"}}', 1001);
  INSERT INTO integrations (name, state, updated_at) VALUES ('crm-out', 'active', 1000);
  INSERT INTO deliveries (delivery_id, integration, kind, entity, key, event_id, version, request, status, cycle_started_at, next_attempt_at,
                          lease_until, lease_owner, created_at, updated_at) VALUES
    ('d-1', 'crm-out', 'change', 'customer', 'K1', 'e-1', 1, '{"body":{"name":"Ada"}}', 'pending', 1001, 1001, 5000, 'gone-process', 1001, 1001);
  INSERT INTO digest_items (integration, window_start, entity, key, event_id, item, created_at) VALUES
    ('crm-digest', 0, 'customer', 'K1', 'e-1', '{"name":"Ada"}', 1001);
  INSERT INTO sources (name, kind, schedule, checkpoint, checkpoint_at, next_run_at, consecutive_failures, last_run, updated_at) VALUES
    ('crm-pull', 'http', 'every 5m', '{"cursor":"c-1"}', 1500, 4000, 0, 'r-1', 1500);
  INSERT INTO source_runs (run_id, source, trigger, status, owner, started_at, finished_at, pages, items, accepted, duplicates, rejected, skipped) VALUES
    ('r-1', 'crm-pull', 'schedule', 'succeeded', 'gone-process', 1000, 1500, 1, 2, 1, 0, 1, 0);
  INSERT INTO source_rejected (source, run_id, item_id, raw, reason, at) VALUES ('crm-pull', 'r-1', 'item-9', '{"id":"item-9"}', 'no email', 1400);
`;

/** Every part of the port, on the upgraded rows. */
async function worksAfterUpgrade(store: Store): Promise<void> {
  const now = Date.now();

  expect(await store.records.getRecord('customer', 'K1')).toMatchObject({ version: 1, parts: { crm: { name: 'Ada' } } });
  expect(await store.records.listAudit('customer', 'K1', { limit: 10 })).toMatchObject([{ field: 'name', newValue: 'Ada', eventId: 'e-1' }]);
  expect(await store.records.getEvent('e-1')).toMatchObject({
    status: 'processed',
    result: { version: 1, changedParts: ['crm'] },
    changes: [{ version: 1, changedParts: ['crm'] }],
    deliveries: [{ deliveryId: 'd-1', status: 'pending' }],
  });

  // The queued event is claimed with its key's record, and commits on top of it.
  const batch = await store.inbox.claimBatch(10);
  expect(batch.events.map((e) => e.eventId)).toEqual(['e-2']);
  expect(batch.records.get(recordId('customer', 'K1'))?.version).toBe(1);
  await store.inbox.commitBatch({
    records: [{ record: { entity: 'customer', key: 'K1', version: 2, parts: { crm: { name: 'Ada L.' } }, createdAt: 1001, updatedAt: now }, expectedVersion: 1 }],
    audit: [],
    changes: [],
    deliveries: [],
    digestItems: [],
    processed: [{ seq: batch.events[0]!.seq, eventId: 'e-2', result: { entity: 'customer', key: 'K1', version: 2, changedParts: ['crm'] }, at: now }],
    parked: [],
  });
  expect((await store.records.getRecord('customer', 'K1'))?.version).toBe(2);

  // New events get seqs after the old ones.
  const [accepted] = await store.inbox.accept([{ eventId: 'e-4', name: 'crm:contact:updated', version: 1, flowId: 'f-4', entity: 'customer', key: 'K3', envelope: {}, acceptedAt: now }]);
  expect(accepted).toMatchObject({ status: 'accepted', seq: expect.any(Number) });
  expect(accepted?.status === 'accepted' && accepted.seq).toBeGreaterThan(3);

  expect(await store.inbox.listParked()).toMatchObject([{ key: 'K2', eventId: 'e-3', error: { code: 'RULE_FAILED' }, waiting: 1 }]);
  expect(await store.inbox.retryParked('customer', 'K2')).toBe(true);

  // The old process's lease ran out long ago: the delivery is due, and settles.
  const claimed = await store.deliveries.claimDeliveries([{ integration: 'crm-out', limit: 10, ordered: true }], { now, leaseMs: 30_000, owner: 'new-process' });
  expect(claimed).toMatchObject([{ deliveryId: 'd-1', request: { body: { name: 'Ada' } } }]);
  const attempt = { deliveryId: 'd-1', attempt: 1, trigger: 'scheduled' as const, startedAt: now, durationMs: 5, method: 'POST', url: 'http://127.0.0.1/x' };
  const settled = await store.deliveries.settleAttempts(
    [
      {
        attempt: { ...attempt, requestHeaders: {}, status: 200, response: 'ok', error: null, outcome: 'succeeded', nextAttemptAt: null },
        owner: 'new-process',
        status: 'succeeded',
        nextAttemptAt: null,
        integrationSucceeded: true,
      },
    ],
    now,
  );
  expect(settled).toEqual([{ failingSince: null, consecutiveFailures: 0 }]);
  expect(await store.deliveries.getDelivery('d-1')).toMatchObject({ status: 'succeeded', log: [{ status: 200 }] });
  expect(await store.deliveries.retryDelivery('d-1', now)).toBe(true);

  expect(await store.deliveries.takeDigestWindow('crm-digest', 60_000, now)).toMatchObject({ windowStart: 0, items: [{ eventId: 'e-1', item: { name: 'Ada' } }] });

  expect(await store.sources.getSource('crm-pull')).toMatchObject({ checkpoint: { cursor: 'c-1' }, nextRunAt: 4000, lastRun: { runId: 'r-1', status: 'succeeded' } });
  expect(await store.sources.listRejected('crm-pull', { limit: 10 })).toMatchObject([{ itemId: 'item-9', raw: { id: 'item-9' } }]);
  expect(await store.sources.startSourceRun('crm-pull', { runId: 'r-2', owner: 'new-process', trigger: 'manual', now, leaseMs: 30_000, onlyIfDue: true })).toEqual({
    checkpoint: { cursor: 'c-1' },
  });

  // Tables the release did not have are there too.
  expect(await store.access.createKey({ id: 'k-1', name: 'ci', hash: 'ab'.repeat(32), scopes: ['read'], events: null, signingSecret: null, createdAt: now })).toBe(true);
  expect(await store.access.findKey('ab'.repeat(32))).toMatchObject({ name: 'ci' });

  // Processes and monitors (schema 7), and a monitor's announcement among the deliveries.
  expect(await store.health.registerProcess({ id: 'p-1', host: 'box', pid: 1, roles: ['processor'], version: 'next' }, () => [])).toMatchObject({ state: 'up' });
  await store.health.registerMonitors([{ name: 'crm-api', kind: 'http' }], now);
  const down = await store.health.transition({ monitor: 'crm-api', from: 'new', to: 'down', observed: 'down', at: now, message: 'timeout', details: null, announce: true }, (t) => [
    { deliveryId: `monitor_${t.id}`, integration: 'crm-out', kind: 'monitor', entity: 'monitor', key: t.monitor, eventId: `transition:${t.id}`, version: null, request: { body: {} }, status: 'pending', createdAt: now },
  ]);
  expect(await store.deliveries.listDeliveries({ key: 'crm-api', limit: 10 })).toMatchObject([{ kind: 'monitor', eventId: `transition:${down?.id}` }]);
}

describe('upgrading a database the last release made', () => {
  it('SQLite: migrates in place and works', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'release.db');
    const db = new Database(path);
    db.exec(SCHEMA_MIGRATIONS);
    for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= LAST_RELEASE.sqlite)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)').run(m.version, m.name);
    }
    db.exec(RELEASE_ROWS);
    db.close();

    const fresh = new SqliteStore({ path: join(dir.path, 'fresh.db'), checkpoints: 'commit' });
    await fresh.init();
    await fresh.close();
    const store = new SqliteStore({ path, checkpoints: 'commit' });
    try {
      await store.init();
      expect(sqliteSchema(path)).toEqual(sqliteSchema(join(dir.path, 'fresh.db')));
      await worksAfterUpgrade(store);
    } finally {
      await store.close();
      dir.remove();
    }
  });

  describe('PostgreSQL', () => {
    let database: TestDatabase;
    let fresh: TestDatabase;
    beforeAll(async () => {
      [database, fresh] = await Promise.all([createTestDatabase('upgrade'), createTestDatabase('upgrade_fresh')]);
    });
    afterAll(async () => {
      await Promise.all([database?.drop(), fresh?.drop()]);
    });

    it('migrates in place and works', async () => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await client.query(SCHEMA_MIGRATIONS);
        for (const m of POSTGRES_MIGRATIONS.filter((m) => m.version <= LAST_RELEASE.postgres)) {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)', [m.version, m.name]);
        }
        await client.query(RELEASE_ROWS);
      } finally {
        await client.end();
      }

      const freshStore = new PostgresStore({ url: fresh.url });
      await freshStore.init();
      await freshStore.close();
      const store = new PostgresStore({ url: database.url });
      try {
        await store.init();
        expect(await postgresSchema(database.url)).toEqual(await postgresSchema(fresh.url));
        await worksAfterUpgrade(store);
      } finally {
        await store.close();
      }
    });
  });
});
