// Moving an embedded hub to PostgreSQL: `confluo copy` takes a SQLite file
// that has seen events, rules, deliveries and a source run, and the
// PostgreSQL store then answers exactly as the SQLite one did, and goes on
// numbering after the copied rows.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defineIntegration } from '../src/delivery/integration.js';
import { functionSink } from '../src/delivery/sinks/function-sink.js';
import { defineSource } from '../src/sources/source.js';
import { customDriver } from '../src/sources/source-driver.js';
import { PostgresStore } from '../src/store/postgres/index.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import type { Store } from '../src/store/store.js';
import { entryPosted, ledgerFlow } from './support/flows.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { envelope, eventually, startTestHub, tempDir } from './support/index.js';

const root = new URL('..', import.meta.url).pathname;

describe('confluo copy (SQLite → PostgreSQL)', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function filledSqlite() {
    const dir = tempDir('confluo-copy-');
    cleanups.push(dir.remove);
    const dbPath = join(dir.path, 'confluo.db');
    const feed = customDriver(async (checkpoint: { n: number } | null) => {
      const n = checkpoint?.n ?? 0;
      return n >= 2 ? { items: [], checkpoint: { n } } : { items: [{ ref: `s${n}`, amount: n + 1 }, { ref: 'bad' }], checkpoint: { n: n + 1 }, more: true };
    });
    const t = await startTestHub({
      flow: ledgerFlow,
      dbPath,
      pull: false,
      integrations: [defineIntegration({ name: 'books', on: { events: ['ledger:entry:posted'] }, map: ({ key }) => ({ body: { key } }), sink: functionSink(async () => undefined) })],
      sources: [
        defineSource({
          name: 'feed',
          driver: feed,
          schedule: { every: '1h' },
          emits: entryPosted,
          id: (item) => (item as { ref: string }).ref,
          map: (item) => ({ id: 'SRC', amount: (item as { amount: number }).amount, label: (item as { ref: string }).ref }),
        }),
      ],
      dispatcher: { pollMs: 10 },
    });
    for (let i = 0; i < 30; i++) await t.send(envelope('ledger:entry:posted', { id: `A${i % 3}`, amount: i, label: `e${i}` }));
    await t.send(envelope('ledger:entry:posted', { id: 'P', amount: 1, label: 'x', fail: true }));
    await t.post('/api/v1/sources/feed/run');
    await eventually(async () => (await t.get('/api/v1/deliveries?status=succeeded&limit=1000')).body.items.length === 32, 10_000, 'deliveries');
    await t.close();
    // An identifier link, as a flow that declares identifiers writes them.
    const store = new SqliteStore({ path: dbPath });
    await store.init();
    await store.inbox.commitBatch({ records: [], audit: [], changes: [], deliveries: [], digestItems: [], processed: [], parked: [], links: [{ entity: 'account', identifier: 'email', value: 'a1@example.com', key: 'A1', eventId: 'e', linkedAt: 5 }] });
    await store.close();
    return dbPath;
  }

  async function snapshot(store: Store) {
    const records = await Promise.all(['A0', 'A1', 'A2', 'SRC'].map((k) => store.records.getRecord('account', k)));
    const audit = await store.records.listAudit('account', 'A1', { limit: 1000 });
    const events = await Promise.all(['P', 'feed:s1'].map(async (id) => (id === 'P' ? (await store.inbox.listParked())[0] : await store.records.getEvent(id))));
    const deliveries = await store.deliveries.listDeliveries({ limit: 1000 });
    const delivery = await store.deliveries.getDelivery(deliveries[0]!.deliveryId);
    const sources = await store.sources.listSources();
    const rejected = await store.sources.listRejected('feed', { limit: 10 });
    const identifiers = await store.records.listIdentifiers('account', 'A1');
    return { records, audit, identifiers, events, deliveries, delivery, sources, rejected, integrations: await store.deliveries.listIntegrations(), stats: await store.stats() };
  }

  it('copies everything, and the PostgreSQL store answers as the SQLite one did', { timeout: 60_000 }, async () => {
    const dbPath = await filledSqlite();
    const target: TestDatabase = await createTestDatabase('copy');
    cleanups.push(target.drop);

    const run = spawnSync(process.execPath, [join(root, 'bin/confluo.mjs'), 'copy', '--from', `sqlite:${dbPath}`, '--to', target.url], { cwd: root, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^copied \d+ rows to postgres:\/\/.*inbox 33, records 4, audit \d+/);

    const sqlite = new SqliteStore({ path: dbPath });
    await sqlite.init();
    const postgres = new PostgresStore({ url: target.url });
    await postgres.init();
    cleanups.push(() => sqlite.close(), () => postgres.close());
    const before = await snapshot(sqlite);
    expect(before.deliveries).toHaveLength(32);
    expect(before.rejected).toHaveLength(2);
    expect(before.identifiers).toHaveLength(1);
    expect(await snapshot(postgres)).toEqual(before);

    // New rows go on after the copied ones.
    const [outcome] = await postgres.inbox.accept([{ eventId: 'after-copy', name: 'ledger:entry:posted', version: 1, flowId: 'f', entity: 'account', key: 'A0', envelope: {}, acceptedAt: Date.now() }]);
    expect(outcome).toEqual({ status: 'accepted', seq: 34 });

    // A second copy into the same database is refused, and changes nothing.
    const again = spawnSync(process.execPath, [join(root, 'bin/confluo.mjs'), 'copy', '--from', `sqlite:${dbPath}`, '--to', target.url], { cwd: root, encoding: 'utf8' });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already holds data \(inbox: 34 rows\)/);
  });

  it('copies text PostgreSQL cannot hold (NUL) as the driver stores it, and refuses a --from file that does not exist', { timeout: 30_000 }, async () => {
    const dir = tempDir('confluo-copy-nul-');
    cleanups.push(dir.remove);
    const dbPath = join(dir.path, 'confluo.db');
    const sqlite = new SqliteStore({ path: dbPath });
    await sqlite.init();
    await sqlite.sources.registerSources([{ name: 'feed', kind: 'custom', schedule: 'every 1h' }], 1);
    await sqlite.sources.startSourceRun('feed', { runId: 'r1', owner: 'o', trigger: 'manual', now: 2, leaseMs: 1000, onlyIfDue: false });
    await sqlite.sources.finishSourceRun('feed', { runId: 'r1', owner: 'o', status: 'failed', error: 'the API sent \u0000 in its answer', nextRunAt: null, now: 3 });
    await sqlite.close();
    const target = await createTestDatabase('copy_nul');
    cleanups.push(target.drop);
    const run = spawnSync(process.execPath, [join(root, 'bin/confluo.mjs'), 'copy', '--from', `sqlite:${dbPath}`, '--to', target.url], { cwd: root, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const postgres = new PostgresStore({ url: target.url });
    await postgres.init();
    cleanups.push(() => postgres.close());
    expect((await postgres.sources.getSourceRun('r1'))?.error).toBe('the API sent \uFFFD in its answer');

    const missing = spawnSync(process.execPath, [join(root, 'bin/confluo.mjs'), 'copy', '--from', `sqlite:${join(dir.path, 'typo.db')}`, '--to', target.url], { cwd: root, encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no database at .*typo\.db to copy from/);
    expect(existsSync(join(dir.path, 'typo.db'))).toBe(false);
  });

  it('says clearly what it needs', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin/confluo.mjs'), 'copy', ...args], { cwd: root, encoding: 'utf8' });
    expect(run('--from', 'postgres://x@127.0.0.1/a', '--to', 'postgres://x@127.0.0.1/b').stderr).toMatch(/the database to copy from \(--from, else the hub's\) must be a SQLite file/);
    expect(run('--from', 'sqlite:/tmp/none.db', '--to', 'sqlite:/tmp/b.db').stderr).toMatch(/--to must be a PostgreSQL URL/);
    expect(run('--from', 'sqlite:/tmp/none.db').stderr).toMatch(/required option '--to <url>'/);
  });
});
