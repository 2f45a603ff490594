// How the PostgreSQL store talks to its server: its options and the pool they
// make, the clear error when the server cannot be reached, transactions, and
// the ids of the advisory locks and notification channels it uses.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ConfigError, ConfluoError } from '../../errors/index.js';
import type { WakeChannel } from '../store.js';

export interface PostgresStoreOptions {
  /**
   * `postgres://user:password@host:port/database` (or `postgresql://`). Every libpq-style
   * parameter pg understands may follow (`?sslmode=require`), and one of Confluo's own:
   * `pool_max`, the pool size (see `poolMax`).
   */
  url: string;
  /**
   * Connections this store keeps open at most. Each process has its own pool, so the server
   * must allow (processes × poolMax) connections plus one listener per process.
   * @defaultValue the URL's `pool_max`, else 10
   */
  poolMax?: number;
  /**
   * How long the keys of a claimed batch stay leased to this store. A worker that dies with a
   * batch in hand blocks its keys this long; then another worker takes them over. Keep it well
   * above the time a batch takes to apply.
   * @defaultValue 30000
   */
  claimLeaseMs?: number;
  /**
   * How long getting a connection may take before it fails: opening one, or waiting for a free
   * one when all `poolMax` are busy (pg-pool counts both).
   * @defaultValue 10000
   */
  connectTimeoutMs?: number;
  /**
   * Who holds this store's claims: unique per process, so two workers never share leases.
   * @defaultValue `processor-<random uuid>`
   */
  owner?: string;
}

export interface ResolvedOptions {
  pool: pg.PoolConfig;
  /** `host:port`, for messages: never the password. */
  server: string;
  database: string;
  claimLeaseMs: number;
  owner: string;
}

/** Advisory lock ids (the two-int form): a class that names Confluo ("Conf"), then what is locked. */
export const LOCKS = {
  class: 0x436f6e66,
  migrations: 1,
  claims: 2,
  /** Per entity key, with `hashtext(entity || '/' || key)` as the second int. */
  keysClass: 0x436f6e67,
} as const;

export const CHANNELS: Readonly<Record<WakeChannel, string>> = { inbox: 'confluo_inbox', deliveries: 'confluo_deliveries', outcomes: 'confluo_outcomes' };

/** The database's clock in epoch ms: inbox leases compare against one clock, whichever machine asks. */
export const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

// BIGINT (seqs, ms timestamps, counts) arrives as a string by default; every value Confluo
// keeps in one fits a double exactly.
const parseInt8 = (value: string) => Number(value);
const types: pg.CustomTypesConfig = {
  getTypeParser: ((id: number, format?: 'text' | 'binary') =>
    id === pg.types.builtins.INT8 ? parseInt8 : pg.types.getTypeParser(id, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export function resolveOptions(options: PostgresStoreOptions): ResolvedOptions {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (error) {
    throw new ConfigError('the PostgreSQL database URL does not parse: use postgres://user:password@host:port/database', { cause: error });
  }
  if (!/^postgres(ql)?:$/.test(url.protocol)) throw new ConfigError(`a PostgreSQL database URL starts with postgres:// or postgresql://, not ${url.protocol}//`);
  const fromUrl = url.searchParams.get('pool_max');
  url.searchParams.delete('pool_max');
  const poolMax = options.poolMax ?? (fromUrl === null ? 10 : Number(fromUrl));
  if (!Number.isInteger(poolMax) || poolMax < 1) throw new ConfigError(`pool_max must be a whole number of at least 1, not "${fromUrl ?? options.poolMax}"`);
  const host = url.hostname.replace(/^\[(.+)\]$/, '$1') || 'localhost';
  return {
    pool: {
      connectionString: url.toString(),
      max: poolMax,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: 'confluo',
      types,
    },
    server: `${host}:${url.port || '5432'}`,
    database: decodeURIComponent(url.pathname.slice(1)) || url.username || 'postgres',
    claimLeaseMs: options.claimLeaseMs ?? 30_000,
    owner: options.owner ?? `processor-${randomUUID()}`,
  };
}

/** What went wrong, in words: a refused connection to a host with two addresses has an empty message. */
function reason(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reason(error.errors[0]);
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}

export function unreachable(error: unknown, where: Pick<ResolvedOptions, 'server' | 'database'>): ConfluoError {
  return new ConfluoError('STORE_UNREACHABLE', `cannot reach PostgreSQL at ${where.server} (database "${where.database}"): ${reason(error)}`, {
    cause: error,
    retryable: true,
  });
}

// Deadlocks and serialization failures roll back cleanly; running the work again is the fix.
const RETRYABLE = new Set(['40P01', '40001']);

/** Runs `work` in one transaction on one pooled connection; retries it (twice) after a deadlock. */
export async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
      if (attempt < 3 && RETRYABLE.has((error as { code?: string }).code ?? '')) continue;
      throw error;
    } finally {
      // A connection that could not roll back is not handed to the next caller.
      client.release(broken);
    }
  }
}

/**
 * Text from outside (response excerpts, error messages) as PostgreSQL can hold it: TEXT refuses
 * the NUL character, so it becomes U+FFFD rather than failing the whole settlement.
 */
export function storableText(text: string | null): string | null {
  return text === null ? null : text.replaceAll('\u0000', '\uFFFD');
}

/**
 * The `FROM` item of a bulk write: rows sent as one JSON array parameter (`$param`), with the
 * given columns and an ordinal `n` to keep their order. pg serializes array parameters in
 * JavaScript, escaping every element; for a batch's audit rows that was most of the commit
 * (4,000 rows: about 250 ms as arrays, 90 ms as JSON, here).
 */
export function jsonRows(param: number, columns: Record<string, string>): string {
  const definitions = Object.entries(columns)
    .map(([name, type]) => `${name} ${type}`)
    .join(', ');
  return `ROWS FROM (json_to_recordset($${param}::json) AS (${definitions})) WITH ORDINALITY AS u(${Object.keys(columns).join(', ')}, n)`;
}
