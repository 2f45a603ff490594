// A database failover or an idle-connection reaper must never take the hub
// down. A real `confluo start` process on PostgreSQL has every one of its
// backends terminated (`pg_terminate_backend`) again and again while events
// stream in and deliveries go out: the process stays up, every event is
// applied once, and every change is delivered.
import pg from 'pg';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { killAllHubs, startHubProcess } from './support/hub-process.js';
import { createTestDatabase } from './support/postgres.js';
import { startReceiver } from './support/receiver.js';
import { contact, envelope, eventually, tempDir } from './support/index.js';

const API_KEY = 'ck_connection_loss_key_0123456789abcdef';
const ADMIN_TOKEN = 'cadm_connection_loss_token_0123456789abcdef';
const KEYS = 10;
const ROUNDS = 5;

const undo: Array<() => Promise<unknown> | unknown> = [];

afterEach(async () => {
  await killAllHubs();
  for (const step of undo.splice(0).reverse()) await Promise.resolve(step()).catch(() => undefined);
});

async function post(pool: Pool, body: unknown): Promise<string> {
  try {
    const response = await pool.request({
      path: '/events',
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify(body),
    });
    const answer = (await response.body.json()) as { payload?: { status?: string } };
    return answer.payload?.status ?? `HTTP ${response.statusCode}`;
  } catch (error) {
    return `request failed: ${(error as Error).message}`;
  }
}

describe('PostgreSQL connections lost under a running hub', () => {
  it('the hub stays up while its backends are terminated again and again: every event applied once, every change delivered', { timeout: 60_000 }, async () => {
    const db = await createTestDatabase('conn_loss');
    const admin = new pg.Pool({ connectionString: db.url, max: 2, application_name: 'confluo-test' });
    admin.on('error', () => undefined);
    undo.push(() => db.drop(), () => admin.end());
    const desk = await startReceiver();
    undo.push(() => desk.close());
    const dir = tempDir('confluo-conn-loss-');
    undo.push(() => dir.remove());
    const hub = await startHubProcess({
      db: db.url,
      env: {
        CONFLUO_API_KEYS: API_KEY,
        CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN,
        CONFLUO_DATA_DIR: dir.path,
        SUPPORT_DESK_URL: desk.url,
        // A claim whose COMMIT was cut off may have landed: its leases must run out within the test.
        CONFLUO_PROCESS_LEASE_MS: '2000',
        CONFLUO_DELIVERY_LEASE_MS: '2000',
      },
    });
    let exit: string | undefined;
    void hub.exited.then(({ code, signal }) => (exit = `code ${code}, signal ${signal}`));
    const pool = new Pool(hub.url, { connections: KEYS });
    undo.push(() => pool.destroy());
    const query = async <T,>(sql: string, params: unknown[] = []) => (await admin.query(sql, params)).rows as T[];

    // One sender per key, one event at a time. An event that did not get `accepted` is sent again
    // with the same id until it does (or is a `duplicate`: its first try was kept after all).
    const acked = new Map<string, number>();
    let stop = false;
    const senders = Promise.all(
      Array.from({ length: KEYS }, async (_, k) => {
        const number = String(7000 + k);
        for (let i = 0; !stop && exit === undefined; i++) {
          const body = envelope('crm:contact:updated', contact(number, `Name${i}`));
          for (let status = await post(pool, body); status !== 'accepted' && status !== 'duplicate'; status = await post(pool, body)) {
            if (exit !== undefined) return;
          }
          acked.set(`CC-${number}`, i + 1);
        }
      }),
    );
    const total = () => [...acked.values()].reduce((sum, n) => sum + n, 0);

    let terminated = 0;
    for (let round = 0; round < ROUNDS && exit === undefined; round++) {
      const before = total();
      await eventually(() => exit !== undefined || total() >= before + 50, 20_000, 'the stream to move on');
      const killed = await query<{ pid: number }>(
        `SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'confluo %' AND pid <> pg_backend_pid()`,
        [db.name],
      );
      terminated += killed.length;
    }
    stop = true;
    await senders;
    expect(exit, `the hub died:\n${hub.output()}`).toBeUndefined();
    expect(terminated).toBeGreaterThan(ROUNDS);

    // Every event applied once: each key's version is its count of events, one change per event.
    const sent = total();
    await eventually(async () => {
      const [row] = await query<{ n: number }>(`SELECT count(*)::int AS n FROM inbox WHERE status = 'processed'`);
      return row?.n === sent;
    }, 20_000, 'every event processed');
    const records = await query<{ key: string; version: number }>('SELECT key, version FROM records');
    expect(Object.fromEntries(records.map((r) => [r.key, r.version]))).toEqual(Object.fromEntries(acked));
    const [changes] = await query<{ n: number; events: number }>('SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS events FROM changes');
    expect(changes).toEqual({ n: sent, events: sent });

    // Every change reached the desk (at least once; a redelivery after a lost settlement is allowed).
    const missing = () => {
      const seen = new Set(desk.received.map((r) => `${r.body.key}@${r.body.version}`));
      return [...acked].flatMap(([key, n]) => Array.from({ length: n }, (_, v) => `${key}@${v + 1}`).filter((kv) => !seen.has(kv)));
    };
    await eventually(() => missing().length === 0, 20_000, 'every change delivered').catch(async (error: Error) => {
      const statuses = await query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM deliveries GROUP BY status');
      throw new Error(`${error.message}: ${missing().length} missing, e.g. ${missing().slice(0, 5).join(', ')}; deliveries by status ${JSON.stringify(statuses)}`);
    });
    // Reported, not hidden: the operator sees each loss and each return of the listener.
    expect(hub.output()).toMatch(/"level":40,.*"msg":"lost a PostgreSQL connection in use/);
    expect(hub.output()).toMatch(/"level":40,.*"msg":"listening for PostgreSQL notifications again"/);
    expect(exit, `the hub died:\n${hub.output()}`).toBeUndefined();
  });
});
