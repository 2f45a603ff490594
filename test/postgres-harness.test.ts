// The Postgres test harness itself: a created database is real, usable,
// separate from every other one, and gone after drop().
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from './support/postgres.js';

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const exists = async (name: string) =>
  (await query<{ n: number }>(testDatabaseUrl(), 'SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [name]))[0]!.n === 1;

describe('postgres test harness', () => {
  const created: TestDatabase[] = [];
  afterEach(async () => {
    await Promise.all(created.splice(0).map((db) => db.drop()));
  });

  it('creates a usable database whose URL names it', async () => {
    const db = await createTestDatabase('harness');
    created.push(db);
    expect(db.name).toMatch(/^confluo_harness_[0-9a-f]{10}$/);
    const [row] = await query<{ db: string }>(db.url, 'SELECT current_database() AS db');
    expect(row!.db).toBe(db.name);
    await query(db.url, 'CREATE TABLE t (id serial PRIMARY KEY, v text)');
    await query(db.url, "INSERT INTO t (v) VALUES ('a'), ('b')");
    expect(await query(db.url, 'SELECT v FROM t ORDER BY id')).toEqual([{ v: 'a' }, { v: 'b' }]);
  });

  it('gives each caller its own database: tables never leak between them', async () => {
    const [a, b] = await Promise.all([createTestDatabase('Iso Late!'), createTestDatabase('Iso Late!')]);
    created.push(a!, b!);
    expect(a!.name).not.toBe(b!.name);
    expect(a!.name).toMatch(/^confluo_iso_late_/);
    await query(a!.url, 'CREATE TABLE only_in_a (x int)');
    const inB = await query<{ t: string | null }>(b!.url, "SELECT to_regclass('public.only_in_a')::text AS t");
    expect(inB[0]!.t).toBeNull();
  });

  it('drop() ends open connections and removes the database', async () => {
    const db = await createTestDatabase('drop');
    const open = new pg.Client({ connectionString: db.url });
    open.on('error', () => {}); // the forced drop kills this session; that is the point
    await open.connect();
    expect(await exists(db.name)).toBe(true);
    await db.drop();
    expect(await exists(db.name)).toBe(false);
    await expect(open.query('SELECT 1')).rejects.toThrow();
    await open.end().catch(() => {});
  });
});
