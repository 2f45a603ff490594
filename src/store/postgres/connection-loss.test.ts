// Connections the server cuts (a failover, an idle-connection reaper,
// `pg_terminate_backend`), in one process on a real PostgreSQL: a transaction
// runs again when that is safe and fails with STORE_CONNECTION_LOST when not,
// never half-written; the notification listener comes back with back-off.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../../../test/support/postgres.js';
import { eventually } from '../../../test/support/index.js';
import { ConfluoError } from '../../errors/index.js';
import { named, openPool, resolveOptions, sessionName, transaction, type StoreLog } from './connection.js';
import { PostgresStore } from './postgres-store.js';

let db: TestDatabase;
let admin: pg.Pool;
const undo: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  db = await createTestDatabase('pg_conn_loss');
  admin = new pg.Pool({ connectionString: db.url, max: 2, application_name: 'confluo-test' });
  await admin.query('CREATE TABLE written (n int NOT NULL)');
});
afterEach(async () => {
  for (const step of undo.splice(0).reverse()) await step();
  await admin.query('TRUNCATE written');
});
afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

function recorder(): StoreLog & { messages: string[]; details: Array<Record<string, unknown>> } {
  const messages: string[] = [];
  const details: Array<Record<string, unknown>> = [];
  return { messages, details, warn: (d, message) => (details.push(d), messages.push(message)) };
}

function pool(log: StoreLog): pg.Pool {
  const made = openPool({ ...resolveOptions({ url: db.url }), log });
  undo.push(() => made.end());
  return made;
}

const written = async () => (await admin.query<{ n: number }>('SELECT n FROM written ORDER BY n')).rows.map((r) => r.n);

/** Lets the test database take new connections or not (asked from another database: PostgreSQL insists). */
async function allowConnections(allow: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    await client.query(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} ALLOW_CONNECTIONS ${allow}`);
  } finally {
    await client.end();
  }
}

/** Ends `client`'s backend from another connection and waits until the client has seen it go. */
async function cut(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const gone = new Promise((resolve) => client.once('end', resolve));
  await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
  await gone;
}

describe('a transaction whose connection is cut', () => {
  it('runs again when cut while idle in the transaction, and commits once (the cut no longer ends the process)', async () => {
    const log = recorder();
    let runs = 0;
    const result = await transaction(pool(log), async (client) => {
      runs += 1;
      await client.query('INSERT INTO written VALUES ($1)', [runs]);
      // Between two queries: pg reports the loss as an 'error' event on a client nobody is awaiting.
      if (runs === 1) await cut(client);
      await client.query('INSERT INTO written VALUES ($1)', [runs * 10]);
      return runs;
    });
    expect(result).toBe(2);
    expect(await written()).toEqual([2, 20]);
    expect(log.messages).toContain('lost a PostgreSQL connection in use; what ran on it was rolled back');
  });

  it('gives up after three runs cut mid-query, with nothing written, as a retryable STORE_CONNECTION_LOST', async () => {
    let runs = 0;
    const failed = await transaction(pool(recorder()), async (client) => {
      runs += 1;
      await client.query('INSERT INTO written VALUES ($1)', [runs]);
      await client.query('SELECT pg_terminate_backend(pg_backend_pid())');
    }).catch((error: unknown) => error);
    expect(runs).toBe(3);
    expect(failed).toBeInstanceOf(ConfluoError);
    expect(failed).toMatchObject({ code: 'STORE_CONNECTION_LOST', retryable: true, cause: { code: '57P01' } });
    expect(await written()).toEqual([]);
  });

  it('is not run again when cut during COMMIT, whose outcome it cannot know: STORE_CONNECTION_LOST', async () => {
    // A deferred trigger runs inside COMMIT: there it ends its own backend.
    await admin.query(`
      CREATE TABLE cut_at_commit (n int);
      CREATE FUNCTION cut_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(1); RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER cut_at_commit AFTER INSERT ON cut_at_commit DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cut_at_commit();`);
    undo.push(() => admin.query('DROP TABLE cut_at_commit; DROP FUNCTION cut_at_commit()'));
    let runs = 0;
    const failed = await transaction(pool(recorder()), async (client) => {
      runs += 1;
      await client.query('INSERT INTO written VALUES (1)');
      await client.query('INSERT INTO cut_at_commit VALUES (1)');
    }).catch((error: unknown) => error);
    expect(runs).toBe(1);
    expect(failed).toMatchObject({ code: 'STORE_CONNECTION_LOST', retryable: true });
    expect((failed as Error).message).toMatch(/during COMMIT: the transaction may or may not have been applied/);
    expect(await written()).toEqual([]);
  });
});

describe('a connection whose prepared statement went stale', () => {
  it('is dropped and the work runs again on a fresh connection, where the statement is prepared anew', async () => {
    // One connection, so the second run would meet the stale statement again if it were kept.
    const one = openPool({ ...resolveOptions({ url: db.url, poolMax: 1 }), log: recorder() });
    undo.push(() => one.end());
    await admin.query('CREATE TABLE shape (n int NOT NULL)');
    undo.push(() => admin.query('DROP TABLE shape'));
    const read = named('test.read-shape', 'SELECT n FROM shape WHERE n >= $1');
    const pids: number[] = [];
    const readOnce = () =>
      transaction(one, async (client) => {
        pids.push((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
        return (await client.query<{ n: unknown }>({ ...read, values: [0] })).rows.map((r) => r.n);
      });
    await admin.query('INSERT INTO shape VALUES (1)');
    expect(await readOnce()).toEqual([1]);
    // What a newer process's migration can do: the prepared plan's result type no longer holds.
    await admin.query('ALTER TABLE shape ALTER COLUMN n TYPE bigint');
    expect(await readOnce()).toEqual([1]); // the store reads int8 as a number
    expect(pids).toHaveLength(3);
    expect(pids[2]).not.toBe(pids[0]);
  });
});

describe('the notification listener', () => {
  it('listens again after its connection is cut, backing off while the server refuses it, and calls listeners on each start', async () => {
    const log = recorder();
    const store = new PostgresStore({ url: db.url, log });
    await store.init();
    undo.push(() => store.close());
    let calls = 0;
    store.onWake('inbox', () => (calls += 1));
    await eventually(() => calls === 1, 5_000, 'the first start');

    // Refused for a while: each try waits twice as long as the one before.
    await allowConnections(false);
    undo.push(() => allowConnections(true));
    const listening = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 AND query LIKE 'LISTEN%'`, [db.name, sessionName(store.owner)]);
    expect(listening.rowCount).toBe(1);
    await eventually(() => log.messages.filter((m) => m.startsWith('could not listen')).length >= 2, 5_000, 'two refused tries');
    expect(log.details.slice(0, 3).map((d) => d.retryMs)).toEqual([500, 1000, 2000]);
    expect(calls).toBe(1);

    await allowConnections(true);
    await eventually(() => calls === 2, 5_000, 'listening again');
    expect(log.messages.at(-1)).toBe('listening for PostgreSQL notifications again');
    await admin.query(`SELECT pg_notify('confluo_inbox', '')`);
    await eventually(() => calls === 3, 5_000, 'a notification after the restart');
  });
});
