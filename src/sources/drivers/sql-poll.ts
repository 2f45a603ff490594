// The sql-poll source driver: reads the rows of a PostgreSQL table or query
// that changed since the checkpoint, a page at a time, by keyset pagination on
// the cursor columns (e.g. `updated_at, id`):
//
//   SELECT src.*, <cursor values as text> FROM (<table or query>) AS src
//   WHERE (c1, c2) > ($1, $2) AND c1 IS NOT NULL AND c2 IS NOT NULL
//   ORDER BY c1, c2 LIMIT <pageSize>
//
// (no `>` before the first row). The IS NOT NULL keeps a row with a NULL cursor
// value from ending a page: nothing compares greater than NULL, so the source
// would stall there. Such rows are not read until their value is set.
//
// A row whose `updated_at` is bumped sorts after the checkpoint and is read
// again, as a new version: give the source an item id that includes the cursor
// values (e.g. `${row.id}@${row.updated_at}`), or the runner takes the new
// version for a duplicate of the old.
//
// The checkpoint holds the last row's cursor values as text, printed by
// PostgreSQL itself (`to_json(c) #>> '{}'`): ISO 8601 timestamps with every
// microsecond whatever the session's DateStyle, integers and numerics as exact
// digits. They go back as untyped parameters, which PostgreSQL reads as the
// column's own type. A JS Date would keep milliseconds only, and rows 1 µs
// apart would then be read twice or never.
import pg from 'pg';
import { z } from 'zod';
import { maskText } from '../../delivery/auth/index.js';
import { ConfigError } from '../../errors/index.js';
import { describeIssues } from '../../validation/field-issues.js';
import type { PullContext, PullPage, SourceDriver } from '../source-driver.js';
import { SqlPollError } from './sql-poll-error.js';
import { jsonSafe, rowTypes } from './sql-poll-values.js';

export { SqlPollError } from './sql-poll-error.js';

const isPool = (value: unknown): value is pg.Pool =>
  typeof value === 'object' && value !== null && typeof (value as pg.Pool).query === 'function' && typeof (value as pg.Pool).connect === 'function';

const optionsSchema = z
  .strictObject({
    /** `postgres://user:password@host:5432/database`; the driver makes its own pool and ends it on close(). */
    url: z.string().regex(/^postgres(?:ql)?:\/\//i, 'must be a postgres:// or postgresql:// URL').optional(),
    /**
     * A pool the application already has; the driver never ends it. Its sessions should keep
     * PostgreSQL's default DateStyle (ISO), or dates reach the items as the server prints them.
     */
    pool: z.custom<pg.Pool>(isPool, 'must be a pg.Pool').optional(),
    /**
     * The table to read, optionally schema-qualified (`crm.contacts`). Names are taken exactly
     * (quoted), so they are case-sensitive, as PostgreSQL stores them.
     */
    table: z.string().min(1).optional(),
    /** A SELECT, read as a subquery: its columns must have distinct names, and include the cursor columns. */
    query: z.string().min(1).optional(),
    /**
     * The ordered columns whose values place a row, e.g. `['updated_at', 'id']`. Together they must
     * be unique (end with a key), or rows that tie across a page boundary are lost. Rows where one
     * is NULL are not read while it is.
     */
    cursor: z
      .array(z.string().min(1))
      .min(1)
      .refine((columns) => new Set(columns).size === columns.length, 'must not name a column twice'),
    /** Rows per pull. @defaultValue 500 */
    pageSize: z.int().positive().default(500),
    /** With `url`: how long to wait for a connection. @defaultValue 10000 */
    connectTimeoutMs: z.int().positive().default(10_000),
    /** With `url`: the server cancels a page query that runs longer (statement_timeout). @defaultValue 60000 */
    queryTimeoutMs: z.int().positive().default(60_000),
  })
  .refine((o) => (o.url === undefined) !== (o.pool === undefined), { message: 'give exactly one of url and pool', path: ['url'] })
  .refine((o) => (o.table === undefined) !== (o.query === undefined), { message: 'give exactly one of table and query', path: ['table'] })
  .refine((o) => o.table === undefined || o.table.split('.').length <= 2, { message: 'must be `table` or `schema.table`', path: ['table'] });

export type SqlPollOptions = z.input<typeof optionsSchema>;

const checkpointSchema = z.object({
  /** The cursor column values of the last row read, by column name; null before the first row. */
  after: z.record(z.string(), z.string()).nullable(),
});

export type SqlPollCheckpoint = z.infer<typeof checkpointSchema>;

/** Extra columns that carry the cursor values as text; removed from the items. */
const CURSOR_ALIAS = '__confluo_cursor_';
const cursorAlias = (i: number) => `${CURSOR_ALIAS}${i}`;
const sourceName = (context: PullContext) => `sql-poll source "${context.source}"`;
const quote = (name: string) => pg.escapeIdentifier(name);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
const decode = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

export function sqlPoll(options: SqlPollOptions): SourceDriver<Record<string, unknown>, SqlPollCheckpoint> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const fields = describeIssues(parsed.error.issues).map((f) => `${f.name}: ${f.message}`);
    throw new ConfigError(`invalid sql-poll source options: ${fields.join('; ')}`);
  }
  const o = parsed.data;
  const { pool, database, secrets } = o.url === undefined ? borrowed(o.pool!) : owned(o.url, o);
  const target = o.table === undefined ? 'the query' : `table ${o.table}`;
  const inner = o.table === undefined ? o.query!.trim().replace(/;\s*$/, '') : `SELECT * FROM ${o.table.split('.').map(quote).join('.')}`;
  const columns = o.cursor.map((c) => `src.${quote(c)}`);
  const select = `SELECT src.*, ${columns.map((c, i) => `to_json(${c}) #>> '{}' AS ${cursorAlias(i)}`).join(', ')} FROM (${inner}) AS src`;
  const order = `ORDER BY ${columns.join(', ')} LIMIT ${o.pageSize}`;
  const notNull = columns.map((c) => `${c} IS NOT NULL`).join(' AND ');
  const firstPage = `${select} WHERE ${notNull} ${order}`;
  const nextPage = `${select} WHERE (${columns.join(', ')}) > (${columns.map((_, i) => `$${i + 1}`).join(', ')}) AND ${notNull} ${order}`;
  let checked: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  /** Turns a failed query into an error that says what to fix, without the password. */
  function failure(error: unknown, context: PullContext): Error {
    const text = maskText(messageOf(error), secrets);
    const where = sourceName(context);
    const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
    const sqlstate = code !== undefined && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
    if (sqlstate === undefined) {
      return new SqlPollError(`${where}: cannot reach PostgreSQL at ${database}: ${text || code || 'connection failed'}`, { retryable: true, database, reason: code, cause: error });
    }
    if (sqlstate === '42P01' || sqlstate === '3F000') {
      const what = o.table === undefined ? 'the query reads a table that does not exist' : `table ${o.table} does not exist`;
      return new ConfigError(`${where}: ${what} in database ${database} (PostgreSQL: ${text})`, { cause: error });
    }
    // Syntax errors, missing columns or functions, permissions: the source's settings must change.
    if (sqlstate.startsWith('42')) return new ConfigError(`${where} cannot read ${target} in database ${database}: ${text}`, { cause: error });
    // Connection trouble, resources, a server shutting down, a conflict or timeout: a later run may pass.
    const retryable = ['08', '40', '53', '55', '57', '58'].includes(sqlstate.slice(0, 2));
    return new SqlPollError(`${where}: PostgreSQL at ${database} failed reading ${target}: ${text}`, { retryable, database, reason: sqlstate, cause: error });
  }

  /** Once per driver: the source exists and has the cursor columns, said plainly before any page is read. */
  async function check(context: PullContext): Promise<void> {
    let fields: string[];
    try {
      fields = (await pool.query({ text: `SELECT * FROM (${inner}) AS src LIMIT 0`, types: rowTypes })).fields.map((f) => f.name);
    } catch (error) {
      throw failure(error, context);
    }
    const where = sourceName(context);
    const twice = fields.filter((name, i) => fields.indexOf(name) !== i);
    if (twice.length > 0) throw new ConfigError(`${where}: ${target} returns more than one column named ${[...new Set(twice)].join(', ')}; give each a distinct alias`);
    const missing = o.cursor.filter((c) => !fields.includes(c));
    if (missing.length > 0) {
      throw new ConfigError(`${where}: cursor column ${missing.map((c) => `"${c}"`).join(', ')} is not a column of ${target} in database ${database} (its columns: ${fields.join(', ')})`);
    }
  }

  function readCheckpoint(checkpoint: SqlPollCheckpoint | null, context: PullContext): string[] | null {
    if (checkpoint === null) return null;
    const read = checkpointSchema.safeParse(checkpoint);
    const after = read.success ? read.data.after : undefined;
    if (after === null) return null;
    if (after !== undefined && o.cursor.every((c) => c in after)) return o.cursor.map((c) => after[c]!);
    throw new ConfigError(
      `${sourceName(context)}: the stored checkpoint ${JSON.stringify(checkpoint).slice(0, 200)} does not hold the cursor columns ${o.cursor.join(', ')}; ` +
        'if the cursor changed, reset the source',
    );
  }

  return {
    kind: 'sql-poll',
    secrets: () => [...secrets],
    async pull(checkpoint, context): Promise<PullPage<Record<string, unknown>, SqlPollCheckpoint>> {
      const after = readCheckpoint(checkpoint, context);
      if (context.signal.aborted) throw new SqlPollError(`${sourceName(context)}: cancelled`, { retryable: true, database, cause: context.signal.reason });
      // A failed check is tried again on the next pull: the table may be created meanwhile.
      checked ??= check(context).catch((error: unknown) => {
        checked = undefined;
        throw error;
      });
      await checked;
      let result: pg.QueryResult<Record<string, unknown>>;
      try {
        result = await pool.query<Record<string, unknown>>({ text: after === null ? firstPage : nextPage, values: after ?? [], types: rowTypes });
      } catch (error) {
        throw failure(error, context);
      }
      const rows = result.rows;
      const last = rows.at(-1);
      const items = rows.map((row) => {
        const item: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(row)) if (!key.startsWith(CURSOR_ALIAS)) item[key] = jsonSafe(value);
        return item;
      });
      context.log.debug({ rows: rows.length, target }, 'sql-poll page');
      if (last === undefined) return { items, checkpoint: checkpoint ?? { after: null } };
      const next: Record<string, string> = {};
      o.cursor.forEach((c, i) => (next[c] = String(last[cursorAlias(i)])));
      return { items, checkpoint: { after: next }, ...(rows.length === o.pageSize ? { more: true } : {}) };
    },
    close() {
      closing ??= o.url === undefined ? Promise.resolve() : pool.end();
      return closing;
    },
  };
}

interface Connection {
  pool: pg.Pool;
  /** `host:port/database`, for messages. */
  database: string;
  secrets: string[];
}

function owned(url: string, o: { connectTimeoutMs: number; queryTimeoutMs: number }): Connection {
  const pool = new pg.Pool({
    connectionString: url,
    // Pulls are one at a time; the second connection covers a pull that overlaps a close.
    max: 2,
    connectionTimeoutMillis: o.connectTimeoutMs,
    statement_timeout: o.queryTimeoutMs,
    application_name: 'confluo sql-poll',
    // Dates print as ISO 8601 whatever the server's default, so items carry ISO strings (sql-poll-values.ts).
    options: '-c DateStyle=ISO',
  });
  // An idle connection the server drops must not take the process down; the next pull reconnects.
  pool.on('error', () => {});
  return { pool, ...describeUrl(url) };
}

function borrowed(pool: pg.Pool): Connection {
  const { connectionString, host, port, database, password } = pool.options;
  if (connectionString !== undefined) return { pool, ...describeUrl(connectionString) };
  return { pool, database: `${host ?? 'localhost'}:${port ?? 5432}/${database ?? '(default)'}`, secrets: typeof password === 'string' && password ? [password] : [] };
}

/** `host:port/database` and the password of a connection URL. */
function describeUrl(url: string): Omit<Connection, 'pool'> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('invalid sql-poll source options: url: is not a valid URL');
  }
  const password = decode(parsed.password);
  const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
  return { database: `${host}:${parsed.port || '5432'}/${decode(parsed.pathname.slice(1)) || '(default)'}`, secrets: password ? [password] : [] };
}
