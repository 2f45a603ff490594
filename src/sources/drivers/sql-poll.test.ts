// sql-poll against a real PostgreSQL: the shared driver suite, then what keyset
// paging on timestamps must get right (ties, microseconds, updated rows), query
// sources, JSON-safe rows, and errors that say what is wrong without the password.
import { createServer } from 'node:net';
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/postgres.js';
import { ConfigError } from '../../errors/index.js';
import type { Json } from '../../store/types.js';
import { describeSourceDriverContract } from '../source-driver.contract.js';
import type { PullContext, SourceDriver } from '../source-driver.js';
import { SqlPollError } from './sql-poll-error.js';
import { sqlPoll, type SqlPollCheckpoint, type SqlPollOptions } from './sql-poll.js';

let db: TestDatabase;
let admin: pg.Pool;
let tables = 0;

beforeAll(async () => {
  db = await createTestDatabase('sql_poll');
  admin = new pg.Pool({ connectionString: db.url, max: 2 });
});

afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

const context = (): PullContext => ({ source: 'crm', signal: new AbortController().signal, log: pino({ level: 'silent' }) });
const sql = async (text: string, values: unknown[] = []) => (await admin.query(text, values)).rows as Record<string, any>[];
const stored = (checkpoint: SqlPollCheckpoint): SqlPollCheckpoint => JSON.parse(JSON.stringify(checkpoint)) as SqlPollCheckpoint;

/** Every row after `from`, page by page, as the runner reads them. */
async function drain(driver: SourceDriver<Record<string, unknown>, SqlPollCheckpoint>, from: SqlPollCheckpoint | null = null) {
  const items: Record<string, unknown>[] = [];
  let checkpoint = from;
  for (let pulls = 1; ; pulls++) {
    const page = await driver.pull(checkpoint, context());
    items.push(...page.items);
    checkpoint = stored(page.checkpoint);
    if (!page.more) return { items, checkpoint, pulls };
    if (pulls > 1000) throw new Error('driver kept answering more: true');
  }
}

/** A new table of rows placed by (updated_at, id). */
async function itemsTable(): Promise<string> {
  tables += 1;
  const table = `items_${tables}`;
  await sql(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, updated_at timestamptz NOT NULL, name text)`);
  return table;
}

const drivers: SourceDriver<Record<string, unknown>, SqlPollCheckpoint>[] = [];
function driverFor(options: Partial<SqlPollOptions>) {
  const driver = sqlPoll({ url: db.url, cursor: ['updated_at', 'id'], pageSize: 3, ...options } as SqlPollOptions);
  drivers.push(driver);
  return driver;
}
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.close?.()));
});

describeSourceDriverContract('sql-poll', async () => {
  const table = await itemsTable();
  const options: SqlPollOptions = { url: db.url, table: `public.${table}`, cursor: ['updated_at', 'id'], pageSize: 3 };
  const driver = sqlPoll(options);
  let appended = 0;
  return {
    driver: driver as unknown as SourceDriver<unknown, Json>,
    pageSize: 3,
    async append(count) {
      const start = appended;
      appended += count;
      const rows = await sql(
        `INSERT INTO ${table} (updated_at, name)
         SELECT timestamptz '2024-01-01 00:00:00Z' + n * interval '1 second', 'item ' || n FROM generate_series($1::int, $2::int) AS n ORDER BY n
         RETURNING id`,
        [start + 1, start + count],
      );
      return rows.map((r) => String(r.id));
    },
    idOf: (item) => String((item as { id: unknown }).id),
    reopen: async () => sqlPoll(options) as unknown as SourceDriver<unknown, Json>,
    async close() {
      await driver.close?.();
      await sql(`DROP TABLE ${table}`);
    },
  };
});

describe('sql-poll', () => {
  it('reads rows that share an updated_at across page boundaries once each', async () => {
    const table = await itemsTable();
    await sql(`INSERT INTO ${table} (updated_at, name) SELECT '2024-03-01 12:00:00Z', 'tie ' || n FROM generate_series(1, 7) AS n`);
    const driver = driverFor({ table });
    const first = await drain(driver);
    expect(first.items.map((i) => i.name)).toEqual(['tie 1', 'tie 2', 'tie 3', 'tie 4', 'tie 5', 'tie 6', 'tie 7']);
    expect(first.pulls).toBe(3);
    // More rows at the very same instant come later with higher ids: only they are read.
    await sql(`INSERT INTO ${table} (updated_at, name) VALUES ('2024-03-01 12:00:00Z', 'tie 8'), ('2024-03-01 12:00:00Z', 'tie 9')`);
    const second = await drain(driver, first.checkpoint);
    expect(second.items.map((i) => i.name)).toEqual(['tie 8', 'tie 9']);
  });

  it('keeps microseconds: rows 1 µs apart are neither repeated nor skipped', async () => {
    const table = await itemsTable();
    // Ids run against time, so only updated_at orders them: a millisecond checkpoint would repeat rows.
    await sql(`INSERT INTO ${table} (id, updated_at, name) VALUES
      (50, '2024-05-01 10:00:00.000003+00', 'c'), (40, '2024-05-01 10:00:00.000002+00', 'b'),
      (30, '2024-05-01 10:00:00.000001+00', 'a'), (20, '2024-05-01 10:00:00.000999+00', 'd'),
      (10, '2024-05-01 10:00:00.001+00', 'e')`);
    const driver = driverFor({ table, pageSize: 1 });
    const read = await drain(driver);
    expect(read.items.map((i) => i.name)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(read.items.map((i) => i.updated_at)).toEqual([
      '2024-05-01T10:00:00.000001Z',
      '2024-05-01T10:00:00.000002Z',
      '2024-05-01T10:00:00.000003Z',
      '2024-05-01T10:00:00.000999Z',
      '2024-05-01T10:00:00.001Z',
    ]);
    expect(read.checkpoint).toEqual({ after: { updated_at: expect.stringMatching(/^2024-05-01T\d\d:00:00\.001/), id: '10' } });
    const first = await driver.pull(null, context());
    expect(first.checkpoint.after?.updated_at).toMatch(/:00:00\.000001[+-]/);
    await sql(`INSERT INTO ${table} (id, updated_at, name) VALUES (5, '2024-05-01 10:00:00.001001+00', 'f')`);
    expect((await drain(driver, read.checkpoint)).items.map((i) => i.name)).toEqual(['f']);
  });

  it('reads a row again, as its new version, when its updated_at moves on', async () => {
    const table = await itemsTable();
    await sql(`INSERT INTO ${table} (updated_at, name) VALUES ('2024-01-01Z', 'one'), ('2024-01-02Z', 'two'), ('2024-01-03Z', 'three')`);
    const driver = driverFor({ table });
    const read = await drain(driver);
    expect(read.items.map((i) => i.name)).toEqual(['one', 'two', 'three']);
    await sql(`UPDATE ${table} SET name = 'one, renamed', updated_at = '2024-02-01Z' WHERE name = 'one'`);
    const again = await drain(driver, read.checkpoint);
    expect(again.items).toEqual([{ id: '1', updated_at: '2024-02-01T00:00:00Z', name: 'one, renamed' }]);
  });

  it('reads a query as its source: joins and filters, with the cursor from the query', async () => {
    await sql(`CREATE TABLE customers (id int PRIMARY KEY, name text, active boolean, changed timestamptz NOT NULL)`);
    await sql(`CREATE TABLE addresses (customer_id int REFERENCES customers, city text)`);
    await sql(`INSERT INTO customers VALUES (1, 'Ada', true, '2024-01-01Z'), (2, 'Bob', false, '2024-01-02Z'), (3, 'Cy', true, '2024-01-03Z'), (4, 'Di', true, '2024-01-04Z')`);
    await sql(`INSERT INTO addresses VALUES (1, 'Lyon'), (2, 'Oslo'), (3, 'Kyiv'), (4, 'Lima')`);
    const driver = driverFor({
      query: `SELECT c.id AS customer_id, c.name, a.city, c.changed
              FROM customers c JOIN addresses a ON a.customer_id = c.id
              WHERE c.active;`,
      cursor: ['changed', 'customer_id'],
      pageSize: 2,
    });
    const read = await drain(driver);
    expect(read.items).toEqual([
      { customer_id: 1, name: 'Ada', city: 'Lyon', changed: '2024-01-01T00:00:00Z' },
      { customer_id: 3, name: 'Cy', city: 'Kyiv', changed: '2024-01-03T00:00:00Z' },
      { customer_id: 4, name: 'Di', city: 'Lima', changed: '2024-01-04T00:00:00Z' },
    ]);
    expect(read.checkpoint).toEqual({ after: { changed: expect.stringMatching(/^2024-01-0[34]T/), customer_id: '4' } });
  });

  it('quotes schema, table and column names, which keep their case', async () => {
    await sql(`CREATE SCHEMA "Crm"`);
    await sql(`CREATE TABLE "Crm"."Contacts" ("Changed At" timestamptz NOT NULL, "Id" int PRIMARY KEY, "select" text)`);
    await sql(`INSERT INTO "Crm"."Contacts" VALUES ('2024-01-01Z', 1, 'x'), ('2024-01-02Z', 2, 'y')`);
    const driver = driverFor({ table: 'Crm.Contacts', cursor: ['Changed At', 'Id'] });
    expect((await drain(driver)).items.map((i) => i.select)).toEqual(['x', 'y']);
  });

  it('passes over rows whose cursor value is NULL instead of stalling on them', async () => {
    await sql(`CREATE TABLE nullable (id int PRIMARY KEY, updated_at timestamptz)`);
    await sql(`INSERT INTO nullable VALUES (1, '2024-01-01Z'), (2, NULL), (3, '2024-01-02Z')`);
    // Nulls sort last: without the filter the first page would end on row 2 and place the next after NULL.
    const driver = driverFor({ table: 'nullable', pageSize: 3 });
    const read = await drain(driver);
    expect(read.items.map((i) => i.id)).toEqual([1, 3]);
    expect(read.checkpoint).toEqual({ after: { updated_at: expect.any(String), id: '3' } });
  });

  it('gives rows as JSON-safe objects: exact bigints and numerics, ISO dates, hex bytes', async () => {
    await sql(`CREATE TABLE kinds (
      id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, local timestamp, day date, amount numeric,
      ratio double precision, bytes bytea, doc jsonb, stamps timestamptz[], took interval, tags text[])`);
    await sql(`INSERT INTO kinds VALUES (9007199254740993, '2024-06-30 23:59:59.999999-07:30', '2024-06-30 08:00:00.25', '2024-06-30',
      12345678901234567890.000000000001, 'NaN', '\\xdeadbeef', '{"a": [1, "b"]}', ARRAY['2024-01-01 00:00:00.5+00'::timestamptz], '1 hour 2 minutes', ARRAY['x', 'y'])`);
    const driver = driverFor({ table: 'kinds' });
    const [item] = (await driver.pull(null, context())).items;
    expect(item).toEqual({
      id: '9007199254740993',
      updated_at: '2024-07-01T07:29:59.999999Z',
      local: '2024-06-30T08:00:00.25',
      day: '2024-06-30',
      amount: '12345678901234567890.000000000001',
      ratio: 'NaN',
      bytes: '\\xdeadbeef',
      doc: { a: [1, 'b'] },
      stamps: ['2024-01-01T00:00:00.500Z'],
      took: '01:02:00',
      tags: ['x', 'y'],
    });
    expect(JSON.parse(JSON.stringify(item))).toEqual(item);
  });

  it('leaves a pool it was given open, and ends the one it made', async () => {
    await sql(`CREATE TABLE pooled (id int PRIMARY KEY, updated_at timestamptz NOT NULL)`);
    await sql(`INSERT INTO pooled VALUES (1, '2024-01-01Z')`);
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      const lent = sqlPoll({ pool, table: 'pooled', cursor: ['updated_at', 'id'] });
      expect((await lent.pull(null, context())).items).toHaveLength(1);
      await lent.close?.();
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }

    const own = sqlPoll({ url: db.url, table: 'pooled', cursor: ['updated_at', 'id'] });
    await own.pull(null, context());
    const connections = async () =>
      (await sql(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'confluo sql-poll'`))[0]!.n as number;
    expect(await connections()).toBeGreaterThan(0);
    await own.close?.();
    await expect.poll(connections).toBe(0);
  });

  it('names the table when it does not exist, and the column when the cursor is not in it', async () => {
    const missing = driverFor({ table: 'public.no_such_table' });
    const error = await missing.pull(null, context()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/sql-poll source "crm": table public\.no_such_table does not exist in database 127\.0\.0\.1:\d+\/confluo_sql_poll_/);

    const table = await itemsTable();
    const wrong = driverFor({ table, cursor: ['modified_at', 'id'] });
    const columnError = await wrong.pull(null, context()).catch((e: unknown) => e);
    expect(columnError).toBeInstanceOf(ConfigError);
    expect((columnError as Error).message).toContain(`cursor column "modified_at" is not a column of table ${table}`);
    expect((columnError as Error).message).toContain('its columns: id, updated_at, name');

    const broken = driverFor({ query: 'SELECT id, updated_at FROM no_such_view' });
    await expect(broken.pull(null, context())).rejects.toThrow(/the query reads a table that does not exist .*no_such_view/);
  });

  it('says which server it cannot reach, never with the password', async () => {
    const port = await closedPort();
    const driver = driverFor({ url: `postgres://reader:S3cret%2Fpass@127.0.0.1:${port}/crm`, table: 'contacts' });
    expect(driver.secrets?.()).toEqual(['S3cret/pass']);
    const error = await driver.pull(null, context()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SqlPollError);
    expect(error).toMatchObject({ retryable: true, code: 'SOURCE_SQL_FAILED', details: { database: `127.0.0.1:${port}/crm` } });
    expect((error as Error).message).toContain(`cannot reach PostgreSQL at 127.0.0.1:${port}/crm`);
    expect(JSON.stringify({ message: (error as Error).message, details: (error as SqlPollError).details })).not.toMatch(/S3cret/);
  });

  it('refuses a checkpoint that does not hold its cursor columns', async () => {
    const table = await itemsTable();
    const driver = driverFor({ table });
    await expect(driver.pull({ after: { changed: '2024-01-01' } }, context())).rejects.toThrow(/does not hold the cursor columns updated_at, id/);
  });

  it('refuses options it cannot work with', () => {
    expect(() => sqlPoll({ url: db.url, table: 't', query: 'SELECT 1', cursor: ['id'] })).toThrow(/exactly one of table and query/);
    expect(() => sqlPoll({ url: 'mysql://x', table: 't', cursor: ['id'] })).toThrow(/postgres:\/\//);
    expect(() => sqlPoll({ url: db.url, table: 't', cursor: [] })).toThrow(ConfigError);
    expect(() => sqlPoll({ url: db.url, table: 'a.b.c', cursor: ['id'] })).toThrow(/schema\.table/);
  });
});

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
    });
  });
}
