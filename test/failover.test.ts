// Heartbeats move a dead worker's work in seconds. Two real `confluo start`
// processes share one PostgreSQL: a worker (process, deliver) and a full hub.
// The rule is slow (so the worker is always mid-batch, holding keys) and the
// receiver answers slowly (so it always has deliveries in flight); the leases
// keep their defaults (30 s for keys, 60 s for deliveries).
// - SIGKILL of the worker: the other process declares it down and takes every
//   key and delivery it held within 10 s; every event applied once, in order
//   per key; every change delivered.
// - SIGTERM of the worker: it hands back whatever it holds as it stops.
import pg from 'pg';
import { Pool } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAllHubs, killGroup, startHubProcess, type HubProcess } from './support/hub-process.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { startReceiver, type Receiver } from './support/receiver.js';
import { envelope, eventually, tempDir } from './support/index.js';

const API_KEY = 'ck_failover_test_key_0123456789abcdef';
const ADMIN_TOKEN = 'cadm_failover_test_token_0123456789abcdef';
const CONFIG = 'test/fixtures/failover.config.ts';
const KEYS = 30;
const PER_KEY = 12;
const TARGET_MS = 10_000;

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  await killAllHubs();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await killAllHubs();
});

interface Db {
  url: string;
  query: <T>(sql: string, params?: unknown[]) => Promise<T[]>;
}

async function database(prefix: string): Promise<Db> {
  const db: TestDatabase = await createTestDatabase(prefix);
  const client = new pg.Pool({ connectionString: db.url, max: 2 });
  client.on('error', () => undefined);
  cleanups.push(async () => {
    await client.end().catch(() => undefined);
    await db.drop().catch(() => undefined);
  });
  return { url: db.url, query: async <T,>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as T[] };
}

async function setUp(prefix: string) {
  const db = await database(prefix);
  // Slow answers: each delivery is in flight for a while, so the worker always holds some.
  const receiver: Receiver = await startReceiver({ status: 200, delayMs: 300 });
  cleanups.push(() => receiver.close());
  const dir = tempDir('confluo-failover-');
  cleanups.push(() => dir.remove());
  const env = {
    CONFLUO_API_KEYS: API_KEY,
    CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN,
    CONFLUO_DATA_DIR: dir.path,
    FAILOVER_RECEIVER_URL: receiver.url,
    FAILOVER_APPLY_MS: '8',
  };
  const start = (role?: string) => startHubProcess({ db: db.url, env, config: CONFIG, ...(role ? { role } : {}) });
  const hub = await start();
  const worker = await start('process,deliver');
  const workerId = await eventually(async () => (await db.query<{ id: string }>('SELECT id FROM processes WHERE pid = $1', [worker.process.pid]))[0]?.id, 10_000, 'the worker to register');
  return { db, receiver, hub, worker, workerId };
}

/** One sender per key, each event acknowledged before the next: the labels say the order they were sent in. */
async function sendAll(hub: HubProcess): Promise<void> {
  const pool = new Pool(hub.url, { connections: KEYS });
  cleanups.push(() => pool.destroy().catch(() => undefined));
  await Promise.all(
    Array.from({ length: KEYS }, async (_, k) => {
      const key = `F${String(k).padStart(2, '0')}`;
      for (let i = 0; i < PER_KEY; i++) {
        const response = await pool.request({
          path: '/events',
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
          body: JSON.stringify(envelope('ledger:entry:posted', { id: key, amount: 1, label: `${key}#${i}` })),
        });
        const answer = (await response.body.json()) as { payload?: { status?: string } };
        if (answer.payload?.status !== 'accepted') throw new Error(`${key}#${i}: HTTP ${response.statusCode} ${JSON.stringify(answer)}`);
      }
    }),
  );
}

/** What the worker holds right now: keys mid-batch and deliveries in flight. */
async function holdings(db: Db, owner: string) {
  const [keys, deliveries] = await Promise.all([
    db.query<{ entity: string; key: string }>('SELECT entity, key FROM inbox_leases WHERE owner = $1', [owner]),
    db.query<{ delivery_id: string }>(`SELECT delivery_id FROM deliveries WHERE lease_owner = $1 AND status = 'pending'`, [owner]),
  ]);
  return { keys: keys.map((k) => k.key), deliveries: deliveries.map((d) => d.delivery_id) };
}

/** Every event applied exactly once and in the order sent, every change delivered once and succeeded. */
async function expectAllAppliedInOrderAndDelivered(db: Db): Promise<void> {
  const records = await db.query<{ key: string; version: string; parts: string }>(`SELECT key, version, parts FROM records WHERE entity = 'account' ORDER BY key`);
  expect(records).toHaveLength(KEYS);
  for (const r of records) {
    expect(Number(r.version), `${r.key} version`).toBe(PER_KEY);
    expect((JSON.parse(r.parts) as { ledger: { history: string[] } }).ledger.history).toEqual(Array.from({ length: PER_KEY }, (_, i) => `${r.key}#${i}`));
  }
  const [{ changes, deliveries, succeeded }] = await db.query<{ changes: string; deliveries: string; succeeded: string }>(
    `SELECT (SELECT count(*) FROM changes) AS changes, (SELECT count(*) FROM deliveries WHERE kind = 'change') AS deliveries,
            (SELECT count(*) FROM deliveries WHERE kind = 'change' AND status = 'succeeded') AS succeeded`,
  ) as [{ changes: string; deliveries: string; succeeded: string }];
  expect(Number(changes)).toBe(KEYS * PER_KEY);
  expect(Number(deliveries)).toBe(KEYS * PER_KEY);
  expect(Number(succeeded)).toBe(KEYS * PER_KEY);
}

async function settled(db: Db): Promise<boolean> {
  const [row] = await db.query<{ queued: string; pending: string }>(
    `SELECT (SELECT count(*) FROM inbox WHERE status = 'queued') AS queued, (SELECT count(*) FROM deliveries WHERE status = 'pending') AS pending`,
  );
  return Number(row?.queued) === 0 && Number(row?.pending) === 0;
}

describe('heartbeats on PostgreSQL: a dead worker’s work moves in seconds', () => {
  it('after SIGKILL of a worker holding keys and deliveries, another process takes them all within 10 s; nothing lost, nothing twice, order kept', { timeout: 120_000 }, async () => {
    const { db, hub, worker, workerId } = await setUp('failover_kill');
    const sending = sendAll(hub);
    // Kill it while it holds both: keys mid-batch and deliveries in flight.
    await eventually(async () => {
      const held = await holdings(db, workerId);
      return held.keys.length > 0 && held.deliveries.length > 0;
    }, 30_000, 'the worker to hold keys and deliveries at once');
    killGroup(worker.process, 'SIGKILL');
    const killedAt = Date.now();
    expect((await worker.exited).signal).toBe('SIGKILL');
    const held = await holdings(db, workerId);
    // It died holding them (the rows stay until someone frees them).
    expect(held.keys.length + held.deliveries.length, 'what the dead worker held').toBeGreaterThan(0);
    await sending;

    // Freed once the worker is declared down: nothing stays leased to it.
    await eventually(async () => {
      const now = await holdings(db, workerId);
      return now.keys.length === 0 && now.deliveries.length === 0;
    }, TARGET_MS, 'the dead worker’s leases to be freed');
    const [row] = await db.query<{ state: string }>('SELECT state FROM processes WHERE id = $1', [workerId]);
    expect(row?.state).toBe('down');

    // Every held key processed and every held delivery sent, by the other process, within the target.
    await eventually(async () => {
      const [keys] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM inbox WHERE status = 'queued' AND key = ANY($1)`, [held.keys]);
      const [deliveries] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM deliveries WHERE status <> 'succeeded' AND delivery_id = ANY($1)`, [held.deliveries]);
      return Number(keys?.n) === 0 && Number(deliveries?.n) === 0;
    }, TARGET_MS + 5_000, 'every held key and delivery to be done');
    const heldDoneMs = Date.now() - killedAt;
    const [last] = await db.query<{ processed: string | null; delivered: string | null }>(
      `SELECT (SELECT max(processed_at) FROM inbox WHERE key = ANY($1)) AS processed,
              (SELECT max(completed_at) FROM deliveries WHERE delivery_id = ANY($2)) AS delivered`,
      [held.keys, held.deliveries],
    );
    const lastHeldAt = Math.max(Number(last?.processed ?? 0), Number(last?.delivered ?? 0));
    const measuredMs = lastHeldAt - killedAt;
    process.stdout.write(
      `failover: the worker held ${held.keys.length} keys and ${held.deliveries.length} deliveries at SIGKILL; the last of them was done ${measuredMs} ms after the kill (seen by the test at ${heldDoneMs} ms)\n`,
    );
    expect(measuredMs, 'ms from the kill to the last held key processed / delivery sent').toBeLessThan(TARGET_MS);

    await eventually(() => settled(db), 60_000, 'everything processed and delivered');
    await expectAllAppliedInOrderAndDelivered(db);
    // The worker going down is a transition, written once.
    const transitions = await db.query<{ to_state: string }>(`SELECT to_state FROM monitor_transitions WHERE monitor = $1 AND to_state = 'down'`, [`process:${workerId}`]);
    expect(transitions.length).toBeGreaterThanOrEqual(1);
    expect(hub.output()).toContain('stopped beating');
  });

  it('a worker paused past its beats (SIGSTOP, as a paused VM) is declared down; when it wakes it commits nothing stale, says it lost its leases and comes back', { timeout: 120_000 }, async () => {
    const { db, hub, worker, workerId } = await setUp('failover_pause');
    const sending = sendAll(hub);
    await eventually(async () => (await holdings(db, workerId)).keys.length > 0, 30_000, 'the worker to hold keys mid-batch');
    process.kill(-(worker.process.pid as number), 'SIGSTOP');
    const held = await holdings(db, workerId);
    // The time to move the work is measured (and held to TARGET_MS) in the SIGKILL case above; here
    // the declaration is only awaited, with room for a CI machine whose two cores are saturated.
    await eventually(async () => (await db.query<{ state: string }>('SELECT state FROM processes WHERE id = $1', [workerId]))[0]?.state === 'down', TARGET_MS + 10_000, 'the paused worker to be declared down');
    await sending;
    // The others apply what it held while it sleeps.
    await eventually(async () => {
      const [row] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM inbox WHERE status = 'queued' AND key = ANY($1)`, [held.keys]);
      return Number(row?.n) === 0;
    }, TARGET_MS, 'the paused worker’s keys to be processed by the other process');
    process.kill(-(worker.process.pid as number), 'SIGCONT');
    await eventually(() => worker.output().includes('was declared down by another'), 10_000, 'the woken worker to say it lost its leases');
    await eventually(async () => (await db.query<{ state: string }>('SELECT state FROM processes WHERE id = $1', [workerId]))[0]?.state === 'up', 10_000, 'the woken worker to register again');
    await eventually(() => settled(db), 60_000, 'everything processed and delivered');
    // Its batch in hand was refused: every event applied exactly once, in order.
    await expectAllAppliedInOrderAndDelivered(db);
    const transitions = await db.query<{ from_state: string; to_state: string; announced: boolean | number }>(
      'SELECT from_state, to_state, announced FROM monitor_transitions WHERE monitor = $1 ORDER BY id',
      [`process:${workerId}`],
    );
    // new→up, up→down (the pause), down→up (the wake); a machine loaded to the point of a missed beat may add a pair.
    const seen = transitions.map((t) => `${t.from_state}→${t.to_state}`);
    expect(seen[0]).toBe('new→up');
    expect(seen).toContain('up→down');
    expect(seen.at(-1)).toBe('down→up');
  });

  it('a worker stopped with SIGTERM hands back what it holds as it stops; the rest goes on at once', { timeout: 120_000 }, async () => {
    const { db, hub, worker, workerId } = await setUp('failover_term');
    const sending = sendAll(hub);
    await eventually(async () => (await holdings(db, workerId)).deliveries.length > 0, 30_000, 'the worker to hold deliveries');
    killGroup(worker.process, 'SIGTERM');
    const exit = await worker.exited;
    expect(exit, worker.output()).toEqual({ code: 0, signal: null });
    // Nothing is left leased to it, and it is stopped, not down (nobody had to declare it dead).
    expect(await holdings(db, workerId)).toEqual({ keys: [], deliveries: [] });
    const [row] = await db.query<{ state: string }>('SELECT state FROM processes WHERE id = $1', [workerId]);
    expect(row?.state).toBe('stopped');
    await sending;
    await eventually(() => settled(db), 60_000, 'everything processed and delivered');
    await expectAllAppliedInOrderAndDelivered(db);
    const downs = await db.query(`SELECT 1 FROM monitor_transitions WHERE monitor = $1 AND to_state = 'down'`, [`process:${workerId}`]);
    expect(downs).toHaveLength(0);
  });
});
