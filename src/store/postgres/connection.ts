// How the PostgreSQL store talks to its server: its options and the pool they
// make, the clear error when the server cannot be reached, transactions that
// outlive a lost connection, and the ids of the advisory locks and notification
// channels it uses.
import { createHash, randomUUID } from 'node:crypto';
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
  /**
   * Told (at warn) when the server drops a connection (a failover, an idle-connection reaper,
   * `pg_terminate_backend`) and when listening for notifications starts again. The store
   * recovers by itself; this is for the operator. A pino logger fits.
   * @defaultValue none: nothing is reported
   */
  log?: StoreLog;
}

/** Where the store reports what it recovered from. */
export interface StoreLog {
  warn(details: Record<string, unknown>, message: string): void;
}

export interface ResolvedOptions {
  pool: pg.PoolConfig;
  /** `host:port`, for messages: never the password. */
  server: string;
  database: string;
  claimLeaseMs: number;
  owner: string;
  log: StoreLog;
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
  // node-postgres lets the URL's application_name win over the pool's: it must stay sessionName(owner).
  url.searchParams.delete('application_name');
  const poolMax = options.poolMax ?? (fromUrl === null ? 10 : Number(fromUrl));
  if (!Number.isInteger(poolMax) || poolMax < 1) throw new ConfigError(`pool_max must be a whole number of at least 1, not "${fromUrl ?? options.poolMax}"`);
  const host = url.hostname.replace(/^\[(.+)\]$/, '$1') || 'localhost';
  const owner = options.owner ?? `processor-${randomUUID()}`;
  return {
    pool: {
      connectionString: url.toString(),
      max: poolMax,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: sessionName(owner),
      types,
    },
    server: `${host}:${url.port || '5432'}`,
    database: decodeURIComponent(url.pathname.slice(1)) || url.username || 'postgres',
    claimLeaseMs: options.claimLeaseMs ?? 30_000,
    owner,
    log: options.log ?? { warn: () => undefined },
  };
}

/**
 * The `application_name` of every connection a process opens: `confluo` and a digest of its
 * owner id (PostgreSQL cuts names at 63 bytes, and a host name can be longer). A process that
 * declares another down ends that one's sessions by it (PostgresHealth.reapSilent).
 */
export function sessionName(owner: string): string {
  return `confluo ${createHash('sha256').update(owner).digest('hex').slice(0, 16)}`;
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

/**
 * The pool, safe against connections the server drops. pg reports a dropped connection as an
 * 'error' event on its client, and an 'error' event nobody listens to ends the process.
 */
export function openPool(options: Pick<ResolvedOptions, 'pool' | 'log'>): pg.Pool {
  const pool = new pg.Pool(options.pool);
  // An idle connection: the pool has already discarded it and opens another when one is needed.
  pool.on('error', (error) => options.log.warn({ err: error }, 'lost an idle PostgreSQL connection; the pool opens a new one when needed'));
  // A connection in use: its holder sees the failure on its next query and releases it with the
  // error, so the pool discards it. The event itself carries nothing more.
  pool.on('connect', (client) => client.on('error', () => undefined));
  pool.on('release', (error: Error | undefined) => {
    if (isConnectionLost(error)) options.log.warn({ err: error }, 'lost a PostgreSQL connection in use; what ran on it was rolled back');
  });
  return pool;
}

// pg's words when the socket closed under a client, and when a query comes after that: pg
// then refuses it without sending it.
const NOT_SENT = 'Client has encountered a connection error and is not queryable';
const LOST_MESSAGES = ['Connection terminated', 'Connection terminated unexpectedly', NOT_SENT];
const LOST_ERRNOS = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/**
 * Whether `error` says the connection is gone: the server ended it (57P01 admin_shutdown,
 * 57P02 crash_shutdown, class 08 connection exceptions) or the network dropped it.
 */
export function isConnectionLost(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (code === '57P01' || code === '57P02' || code.startsWith('08') || LOST_ERRNOS.has(code))) return true;
  return LOST_MESSAGES.includes(error.message);
}

// Deadlocks and serialization failures roll back cleanly; running the work again is the fix.
const RETRYABLE = new Set(['40P01', '40001']);
/** Runs of one transaction at most: the first and two more. */
const ATTEMPTS = 3;

/**
 * A statement of a hot path (accept, claim, commit, settle), prepared once per connection under
 * `name`: PostgreSQL then parses and analyzes it once instead of at every call, and may keep its
 * plan. Parse, analysis and planning were a quarter of PostgreSQL's CPU at 1,000 events/s end to
 * end (perf, 2026-12-03). The text must be the same at every call with that name.
 */
export const named = (name: string, text: string): { name: string; text: string } => ({ name, text });

/**
 * What the hot paths (claims, settlements, processing commits) begin with: index scans only. The
 * queue-like partial indexes (`inbox_queued`, `deliveries_due`, `deliveries_pending_by_key`) keep an
 * entry for every row that left the queue since the last vacuum. A plain index scan marks those it
 * finds dead, so later scans skip them; a bitmap scan never does and reads them all every time. With
 * a young table's statistics the planner picked bitmap scans: an inbox claim read 12,850 entries to
 * find 32 queued events, and a settlement read every pending delivery to find four by id. A
 * prepared statement keeps the plan made while its tables were small, too: the processing commit
 * kept scanning every record and every lease row to update a few dozen (its share of PostgreSQL's
 * time at 1,000 events/s with keys reused fell from 280 to 160 µs per event without sequential
 * scans). Every row these paths touch is found through an index. One round trip still: the SETs go
 * with BEGIN.
 */
export const BEGIN_INDEX_SCANS = 'BEGIN; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off';

/**
 * Errors that leave one connection's prepared statements unusable for good: a plan whose result
 * type changed under it (a newer process's migration altered a column), or a statement the server
 * no longer has (a pooler, DEALLOCATE). node-pg would keep sending them on that connection, so it
 * is dropped from the pool and the work runs again on another one, where they are prepared anew.
 */
function isStalePreparedStatement(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '26000' || (code === '0A000' && error instanceof Error && error.message.includes('cached plan must not change result type'));
}

/**
 * Runs `work` in one transaction on one pooled connection. It runs again (three runs in all at
 * most) after a deadlock, or after the connection was lost before COMMIT reached the server:
 * the server then rolled everything back, so nothing is half-written and nothing applied twice.
 * A connection whose prepared statements went stale is dropped and the work runs again too.
 * A connection lost once COMMIT was sent leaves the outcome unknown, so that transaction never
 * runs again: it fails with `STORE_CONNECTION_LOST` (retryable), as does a loss on the last run.
 */
export async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const client = await pool.connect();
    let committing = false;
    let broken: Error | undefined;
    try {
      await client.query(begin);
      const result = await work(client);
      committing = true;
      await client.query('COMMIT');
      return result;
    } catch (error) {
      const lost = isConnectionLost(error);
      // The server rolled a lost connection back itself; one that could not roll back is not handed on.
      if (lost) broken = error as Error;
      else await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
      const stale = !lost && isStalePreparedStatement(error);
      if (stale) broken ??= error as Error;
      const unknown = lost && committing && (error as Error).message !== NOT_SENT;
      const again = lost ? !unknown : stale || RETRYABLE.has((error as { code?: string }).code ?? '');
      if (again && attempt < ATTEMPTS) continue;
      if (lost) throw connectionLost(error, unknown);
      throw error;
    } finally {
      client.release(broken);
    }
  }
}

function connectionLost(error: unknown, outcomeUnknown: boolean): ConfluoError {
  const message = outcomeUnknown
    ? 'lost the PostgreSQL connection during COMMIT: the transaction may or may not have been applied'
    : `lost the PostgreSQL connection ${ATTEMPTS} times in one transaction; nothing of it was applied`;
  return new ConfluoError('STORE_CONNECTION_LOST', message, { cause: error, retryable: true });
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
