// The CLI against PostgreSQL: `confluo migrate` creates and re-checks the
// schema, and `confluo start` fails clearly (without printing the password)
// when the server is unreachable or the schema is newer than the code.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/store/postgres/schema.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { tempDir } from './support/index.js';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/confluo.mjs');

function confluo(...args: string[]) {
  const dir = tempDir('confluo-cli-pg-');
  const env: NodeJS.ProcessEnv = { ...process.env, CONFLUO_DATA_DIR: dir.path, CONFLUO_PORT: '0' };
  delete env.CONFLUO_DB;
  try {
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, env, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    dir.remove();
  }
}

describe('confluo on PostgreSQL', () => {
  const dbs: TestDatabase[] = [];
  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.drop();
  });

  it('migrate creates the schema, is safe to run again, and refuses a schema newer than the code', async () => {
    const db = await createTestDatabase('cli_migrate');
    dbs.push(db);
    const first = confluo('migrate', '--db', db.url);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^postgres database postgres:\/\/.* is at the schema this Confluo knows/);
    expect(confluo('migrate', '--db', db.url).code).toBe(0);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      await client.query(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', 0)`);
    } finally {
      await client.end();
    }
    const newer = confluo('start', '--config', 'examples/customer-sync/confluo.config.ts', '--db', db.url);
    expect(newer.code).toBe(1);
    expect(newer.stderr).toMatch(new RegExp(`schema is version 999 but this Confluo knows only up to ${MIGRATIONS.at(-1)!.version}: upgrade Confluo`));
  });

  it('start names an unreachable server and never prints the password', () => {
    const run = confluo('start', '--config', 'examples/customer-sync/confluo.config.ts', '--db', 'postgres://confluo:topsecretpw@127.0.0.1:1/confluo');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/cannot reach PostgreSQL at 127\.0\.0\.1:1/);
    expect(run.stderr + run.stdout).not.toContain('topsecretpw');
  });
});
