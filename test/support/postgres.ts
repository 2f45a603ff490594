// Real PostgreSQL for tests: the server of this run (CONFLUO_TEST_DATABASE_URL,
// or the embedded one test/postgres-global-setup.ts started) and a fresh
// database per test file or test, so files running in parallel never share
// tables.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** The PostgreSQL server URL for this run. */
export function testDatabaseUrl(): string {
  const url = process.env.CONFLUO_TEST_DATABASE_URL ?? inject('confluoTestDatabaseUrl');
  if (!url) throw new Error('no PostgreSQL for tests: run under vitest.config.ts (its globalSetup provides one) or set CONFLUO_TEST_DATABASE_URL');
  return url;
}

export interface TestDatabase {
  /** The server URL with this database's name in its path. */
  url: string;
  /** The database's name, e.g. `confluo_store_3f9a1c0b2e`. */
  name: string;
  /** Ends every connection to the database and drops it. */
  drop(): Promise<void>;
}

/** Creates a uniquely named, empty database on the test server. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const server = testDatabaseUrl();
  // Lowercase and short: unquoted names fold to lowercase, and names stop at 63 bytes.
  const safePrefix = prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 40);
  const name = `confluo_${safePrefix}_${randomBytes(5).toString('hex')}`;
  await admin(server, `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    // WITH (FORCE) (PostgreSQL 13+) terminates the connections a test left open.
    drop: () => admin(server, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
  };
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
