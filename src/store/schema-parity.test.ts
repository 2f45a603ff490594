// Schema parity: both drivers, freshly migrated, keep the same tables, columns,
// keys and indexes by name. Types are left out (INTEGER is BIGINT, 0/1 is
// BOOLEAN); a difference the drivers need goes in ALLOWED with its reason, and
// any other one fails here before it becomes a rule only one driver keeps.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.js';
import { postgresSchema, sqliteSchema } from '../../test/support/schema-shape.js';
import { tempDir } from '../../test/support/index.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

/**
 * Differences that are not drift, as the lines `schemaLines` writes. Allowing a table allows
 * every line about it (its columns, keys and indexes).
 */
const ALLOWED: Record<'sqlite' | 'postgres', ReadonlyArray<{ line: string; why: string }>> = {
  sqlite: [],
  postgres: [
    { line: 'table inbox_leases', why: 'keys claimed by a processor of one of many processes; SQLite has one process and no key leases' },
    { line: 'index inbox_by_key on inbox (entity, key, seq)', why: "a claim reads each leased key's queue by key; SQLite claims in seq order alone and dropped it (v4)" },
    { line: 'column deliveries.lease_until', why: 'deliveries leased across processes; SQLite keeps its leases in process memory (sqlite-deliveries.ts)' },
    { line: 'column deliveries.lease_owner', why: 'see deliveries.lease_until' },
    { line: 'index inbox_by_flow on inbox (flow_id, seq)', why: 'a flow trace reads a flow\'s events; on SQLite the index more than halved accepts and a scan serves an operator (schema 9)' },
  ],
};

/** The table a line of `schemaLines` is about. */
const tableOf = (line: string): string | undefined =>
  /^(?:table (\w+)|(?:column|not null) (\w+)\.|(?:primary key|unique) (\w+) \(|(?:unique )?index \w+ on (\w+) )/.exec(line)?.slice(1).find((t) => t !== undefined);

const isAllowed = (driver: 'sqlite' | 'postgres', line: string): boolean =>
  ALLOWED[driver].some((a) => a.line === line || a.line === `table ${tableOf(line)}`);

describe('schema parity', () => {
  let database: TestDatabase;
  const dir = tempDir();
  let sqlite: string[];
  let postgres: string[];

  beforeAll(async () => {
    const path = join(dir.path, 'parity.db');
    const sqliteStore = new SqliteStore({ path, checkpoints: 'commit' });
    await sqliteStore.init();
    await sqliteStore.close();
    sqlite = sqliteSchema(path);

    database = await createTestDatabase('schema_parity');
    const postgresStore = new PostgresStore({ url: database.url });
    await postgresStore.init();
    await postgresStore.close();
    postgres = await postgresSchema(database.url);
  });
  afterAll(async () => {
    await database?.drop();
    dir.remove();
  });

  it('finds the same tables, columns, keys and indexes on SQLite and PostgreSQL, but the allowed differences', () => {
    expect({
      onlySqlite: sqlite.filter((line) => !postgres.includes(line) && !isAllowed('sqlite', line)),
      onlyPostgres: postgres.filter((line) => !sqlite.includes(line) && !isAllowed('postgres', line)),
    }).toEqual({ onlySqlite: [], onlyPostgres: [] });
  });

  it('allows only differences that are there: an allowance the schemas outgrew is removed', () => {
    expect(ALLOWED.sqlite.map((a) => a.line).filter((line) => !sqlite.includes(line) || postgres.includes(line))).toEqual([]);
    expect(ALLOWED.postgres.map((a) => a.line).filter((line) => !postgres.includes(line) || sqlite.includes(line))).toEqual([]);
  });

  it('reads each schema in full (a parity of two empty lists proves nothing)', () => {
    for (const schema of [sqlite, postgres]) {
      expect(schema).toEqual(expect.arrayContaining(['table inbox', 'column deliveries.delivery_id', 'unique deliveries (delivery_id)', 'primary key records (entity, key)']));
      expect(schema.filter((line) => line.startsWith('index ')).length).toBeGreaterThan(5);
      // Else a table's allowance would not cover its lines.
      expect(schema.filter((line) => tableOf(line) === undefined)).toEqual([]);
    }
  });
});
