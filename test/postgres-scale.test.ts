// Many processes on one PostgreSQL, as teams run Confluo at scale: real
// `confluo start` processes with roles, a real database (never skipped), and
// the guarantees checked in the database afterwards.
// - 4 processor processes apply 100 keys × 300 events: every record equals
//   sequential application, audit trails in order, nothing applied twice.
// - One of three workers is SIGKILLed again and again while events stream in:
//   every acknowledged event is applied exactly once, every change delivered.
// - Two ingest and two delivery processes share the work: every delivery
//   arrives, once, with its webhook-id.
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAllHubs, killGroup, startHubProcess, type HubProcess } from './support/hub-process.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { startReceiver, type Receiver } from './support/receiver.js';
import { appendPixLog, expectedTotals, pixLine, type PixLine } from './support/pix-log.js';
import { contact, envelope, eventually, tempDir } from './support/index.js';

const API_KEY = 'ck_scale_test_key_0123456789abcdef';
const ADMIN_TOKEN = 'cadm_scale_test_token_0123456789abcdef';

const dirs: Array<{ remove: () => void }> = [];
const pools: Pool[] = [];
const receivers: Receiver[] = [];
const databases: TestDatabase[] = [];

afterEach(async () => {
  await killAllHubs();
  await Promise.all(pools.splice(0).map((p) => p.destroy().catch(() => undefined)));
  for (const r of receivers.splice(0)) await r.close();
  for (const d of dirs.splice(0)) d.remove();
  for (const d of databases.splice(0)) await d.drop().catch(() => undefined);
});

afterAll(async () => {
  await killAllHubs();
});

async function database(prefix: string): Promise<{ url: string; query: <T>(sql: string, params?: unknown[]) => Promise<T[]> }> {
  const db = await createTestDatabase(prefix);
  const client = new pg.Pool({ connectionString: db.url, max: 2 });
  // Dropping the database at the end cuts idle connections; that is expected, not an error of the test.
  client.on('error', () => undefined);
  databases.push({ ...db, drop: async () => (await client.end().catch(() => undefined), await db.drop()) });
  return {
    url: db.url,
    query: async <T,>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as T[],
  };
}

function hubs(dbUrl: string, config: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const dir = tempDir('confluo-scale-');
  dirs.push(dir);
  const env = {
    CONFLUO_API_KEYS: API_KEY,
    CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN,
    CONFLUO_DATA_DIR: dir.path,
    ...extraEnv,
  };
  return (role: string) => startHubProcess({ db: dbUrl, env, config, role });
}

async function post(pool: Pool, body: unknown): Promise<'accepted' | 'duplicate' | string> {
  const response = await pool.request({
    path: '/events',
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify(body),
  });
  const answer = (await response.body.json()) as { payload?: { status?: string } };
  return answer.payload?.status ?? `HTTP ${response.statusCode} ${JSON.stringify(answer)}`;
}

describe('PostgreSQL, many processes', () => {
  it('4 processor processes keep per-key order: records equal sequential application, audit in order, nothing twice', { timeout: 240_000 }, async () => {
    const KEYS = 100;
    const PER_KEY = 300;
    const db = await database('order');
    const start = hubs(db.url, 'test/fixtures/ledger.config.ts');
    const ingest = await start('ingest');
    const workers = await Promise.all([1, 2, 3, 4].map(() => start('process')));
    expect(workers).toHaveLength(4);
    const pool = new Pool(ingest.url, { connections: KEYS });
    pools.push(pool);

    const keys = Array.from({ length: KEYS }, (_, k) => `K${String(k).padStart(3, '0')}`);
    // One sender per key, all keys at once: a key's events are accepted in its order, keys interleave freely.
    await Promise.all(
      keys.map(async (key) => {
        for (let i = 0; i < PER_KEY; i++) {
          const status = await post(pool, envelope('ledger:entry:posted', { id: key, amount: i + 1, label: `${key}#${i}` }));
          if (status !== 'accepted') throw new Error(`event ${key}#${i}: ${status}`);
        }
      }),
    );
    await eventually(async () => {
      const [row] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM inbox WHERE status = 'processed'`);
      return Number(row?.n) === KEYS * PER_KEY;
    }, 180_000, 'every event processed');

    const records = await db.query<{ key: string; version: string; parts: string | Record<string, any> }>(`SELECT key, version, parts FROM records WHERE entity = 'account'`);
    expect(records).toHaveLength(KEYS);
    for (const r of records) {
      const parts = typeof r.parts === 'string' ? JSON.parse(r.parts) : r.parts;
      const expected = Array.from({ length: PER_KEY }, (_, i) => `${r.key}#${i}`);
      expect(Number(r.version)).toBe(PER_KEY);
      expect(parts.ledger.history).toEqual(expected);
      expect(parts.ledger.balance).toBe((PER_KEY * (PER_KEY + 1)) / 2);
      expect(parts.ledger.entries).toBe(PER_KEY);
    }
    // Audit: per key, versions only go up, and each version's `last` is that event's label.
    const audit = await db.query<{ key: string; version: string; new_value: string; event_id: string }>(
      `SELECT key, version, new_value::text AS new_value, event_id FROM audit WHERE part = 'ledger' AND field = 'last' ORDER BY id`,
    );
    expect(audit).toHaveLength(KEYS * PER_KEY);
    const lastVersion = new Map<string, number>();
    for (const a of audit) {
      const version = Number(a.version);
      expect(version).toBe((lastVersion.get(a.key) ?? 0) + 1);
      lastVersion.set(a.key, version);
      expect(JSON.parse(a.new_value)).toBe(`${a.key}#${version - 1}`);
    }
    // Nothing applied twice: one change per (key, version), one per event.
    const [changes] = await db.query<{ n: string; events: string }>(`SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM changes`);
    expect(Number(changes?.n)).toBe(KEYS * PER_KEY);
    expect(Number(changes?.events)).toBe(KEYS * PER_KEY);
  });

  it('a worker SIGKILLed again and again loses nothing: every acknowledged event applied once, every change delivered', { timeout: 240_000 }, async () => {
    const KEYS = 20;
    const desk = await startReceiver();
    receivers.push(desk);
    const db = await database('crash');
    const start = hubs(db.url, 'examples/customer-sync/confluo.config.ts', {
      SUPPORT_DESK_URL: desk.url,
      // A killed worker's claims and leases free quickly, so the others take over within the test.
      CONFLUO_PROCESS_LEASE_MS: '2000',
      CONFLUO_DELIVERY_LEASE_MS: '2000',
    });
    const ingest = await start('ingest');
    const workers: HubProcess[] = await Promise.all([1, 2, 3].map(() => start('process,deliver')));
    const pool = new Pool(ingest.url, { connections: KEYS });
    pools.push(pool);

    const acked = new Map<string, number>();
    let stop = false;
    const senders = Promise.all(
      Array.from({ length: KEYS }, async (_, k) => {
        const number = String(5000 + k);
        for (let i = 0; !stop; i++) {
          const status = await post(pool, envelope('crm:contact:updated', contact(number, `Name${i}`)));
          if (status !== 'accepted') throw new Error(`CC-${number} #${i}: ${status}`);
          acked.set(`CC-${number}`, i + 1);
          // A steady stream rather than a flood: the test is about the kills, not about the backlog.
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }),
    );
    // Kill the first worker four times, each time once the stream moved on, and start it again.
    for (let round = 0; round < 4; round++) {
      const before = [...acked.values()].reduce((s, n) => s + n, 0);
      await eventually(() => [...acked.values()].reduce((s, n) => s + n, 0) >= before + 300, 60_000, 'the stream to move on');
      killGroup(workers[0]!.process, 'SIGKILL');
      await workers[0]!.exited;
      workers[0] = await start('process,deliver');
    }
    stop = true;
    await senders;

    const total = [...acked.values()].reduce((s, n) => s + n, 0);
    await eventually(async () => {
      const [row] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM inbox WHERE status = 'processed'`);
      return Number(row?.n) === total;
    }, 120_000, 'every acknowledged event processed');
    const records = await db.query<{ key: string; version: string }>(`SELECT key, version FROM records`);
    expect(Object.fromEntries(records.map((r) => [r.key, Number(r.version)]))).toEqual(Object.fromEntries(acked));
    const [changes] = await db.query<{ n: string; events: string }>(`SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM changes`);
    expect(Number(changes?.n)).toBe(total);
    expect(Number(changes?.events)).toBe(total);

    // At least once: every (key, version) reached the desk.
    const missing = () => {
      const seen = new Set(desk.received.map((r) => `${r.body.key}@${r.body.version}`));
      return [...acked].flatMap(([key, n]) => Array.from({ length: n }, (_, v) => `${key}@${v + 1}`).filter((kv) => !seen.has(kv)));
    };
    try {
      await eventually(() => missing().length === 0, 120_000, 'every change delivered');
    } catch (error) {
      const statuses = await db.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM deliveries GROUP BY status`);
      throw new Error(`${(error as Error).message}: ${missing().length} missing, e.g. ${missing().slice(0, 5).join(', ')}; deliveries by status ${JSON.stringify(statuses)}`);
    }
  });

  it('two ingest and two delivery processes work together: every delivery arrives once, with its webhook-id', { timeout: 180_000 }, async () => {
    const EVENTS = 1000;
    const desk = await startReceiver();
    receivers.push(desk);
    const db = await database('roles');
    const start = hubs(db.url, 'examples/customer-sync/confluo.config.ts', { SUPPORT_DESK_URL: desk.url, SUPPORT_DESK_SECRET: `whsec_${Buffer.from('scale-test-signing-secret-0123').toString('base64')}` });
    const [ingestA, ingestB] = await Promise.all([start('ingest'), start('ingest')]);
    await Promise.all([start('process'), start('deliver'), start('deliver')]);
    const poolA = new Pool(ingestA!.url, { connections: 16 });
    const poolB = new Pool(ingestB!.url, { connections: 16 });
    pools.push(poolA, poolB);

    await Promise.all(
      Array.from({ length: 32 }, async (_, s) => {
        for (let i = s; i < EVENTS; i += 32) {
          // Each customer once: one change, one delivery each.
          const status = await post(i % 2 ? poolA : poolB, envelope('crm:contact:updated', contact(String(100_000 + i), `Person${i}`)));
          if (status !== 'accepted') throw new Error(`event ${i}: ${status}`);
        }
      }),
    );
    await eventually(() => desk.received.length >= EVENTS, 120_000, 'every delivery');
    await new Promise((resolve) => setTimeout(resolve, 1000)); // a duplicate would show up now
    const ids = desk.received.map((r) => r.headers['webhook-id']);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(EVENTS);
    expect(desk.received).toHaveLength(EVENTS);
    const [row] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM deliveries WHERE status = 'succeeded'`);
    expect(Number(row?.n)).toBe(EVENTS);
  });

  it('two pull processes share a source: one run at a time, every line once, even when one is killed', { timeout: 120_000 }, async () => {
    const dir = tempDir('confluo-scale-pull-');
    dirs.push(dir);
    const log = join(dir.path, 'pix.log');
    const db = await database('pull');
    const start = hubs(db.url, 'examples/pix-monitor/confluo.config.ts', { PIX_LOG_PATH: log, PIX_POLL_INTERVAL: '100ms', PIX_PAGE_LINES: '25', CONFLUO_SOURCE_LEASE_MS: '1000' });
    const [pullA] = await Promise.all([start('pull'), start('pull'), start('process')]);
    const written: PixLine[] = [];
    let killedAt = 0;
    for (let round = 0; round < 12; round++) {
      if (round === 6) {
        killGroup(pullA!.process, 'SIGKILL');
        await pullA!.exited;
        killedAt = Date.now();
      }
      const lines = Array.from({ length: 60 }, (_, i) => pixLine(`ACC${i % 7}`, 100 + i));
      written.push(...lines);
      appendPixLog(log, lines);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await eventually(async () => {
      const [row] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM inbox WHERE status = 'processed'`);
      return Number(row?.n) === written.length;
    }, 60_000, 'every line applied');
    const ids = (await db.query<{ event_id: string }>('SELECT event_id FROM inbox ORDER BY seq')).map((r) => r.event_id);
    expect(ids).toEqual(written.map((l) => `pix-log:${l.eventId}`));
    // Runs never overlapped (a killed holder's run ends when the survivor takes the lease), and went on after the kill.
    const runs = await db.query<{ owner: string; status: string; started_at: string; finished_at: string | null }>(`SELECT owner, status, started_at, finished_at FROM source_runs ORDER BY seq`);
    for (let i = 1; i < runs.length; i++) {
      const previous = runs[i - 1]!;
      if (previous.status !== 'interrupted') expect(Number(runs[i]!.started_at)).toBeGreaterThanOrEqual(Number(previous.finished_at));
    }
    expect(runs.some((r) => Number(r.started_at) > killedAt && r.status === 'succeeded')).toBe(true);
    const totals = expectedTotals(written);
    const records = await db.query<{ key: string; parts: string }>(`SELECT key, parts FROM records`);
    expect(Object.fromEntries(records.map((r) => [r.key, JSON.parse(r.parts).cashouts.count]))).toEqual(Object.fromEntries([...totals].map(([k, t]) => [k, t.count])));
  });
});
