// `confluo copy --from sqlite:<file> --to postgres://…`: moves an embedded
// hub's whole database to PostgreSQL, table by table in one target
// transaction (all or nothing), keeping every id and sequence, with a
// progress bar. The target must be empty; stop the hub first.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Presets, SingleBar } from 'cli-progress';
import pg from 'pg';
import { maskUrl } from '../delivery/auth/index.js';
import { ConfigError } from '../errors/index.js';
import { openStore, sqlitePath } from '../hub/open-store.js';
import { storableText } from '../store/postgres/connection.js';
import { locate } from './operator.js';

/** Every table both drivers keep, parents first; with the column that orders (and numbers) its rows. */
export const COPIED_TABLES: ReadonlyArray<{ table: string; order: string; serial?: string }> = [
  { table: 'inbox', order: 'seq', serial: 'seq' },
  { table: 'records', order: 'entity, key' },
  { table: 'audit', order: 'id', serial: 'id' },
  { table: 'changes', order: 'id', serial: 'id' },
  { table: 'identifier_links', order: 'entity, identifier, value' },
  { table: 'parked', order: 'entity, key' },
  { table: 'deliveries', order: 'seq', serial: 'seq' },
  { table: 'delivery_attempts', order: 'id', serial: 'id' },
  { table: 'integrations', order: 'name' },
  { table: 'digest_items', order: 'id', serial: 'id' },
  { table: 'sources', order: 'name' },
  { table: 'source_runs', order: 'seq', serial: 'seq' },
  { table: 'source_rejected', order: 'id', serial: 'id' },
  { table: 'api_keys', order: 'created_at, id' },
  { table: 'operator_actions', order: 'id', serial: 'id' },
];

const ROWS_PER_INSERT = 500;

export interface CopyProgress {
  table: string;
  rows: number;
  done: number;
}

/** Copies everything; resolves with the row count per table. */
export async function copyDatabase(from: string, to: string, onProgress: (p: CopyProgress) => void = () => undefined): Promise<Record<string, number>> {
  const file = sqlitePath(from);
  if (file === undefined || file === ':memory:') throw new ConfigError(`the database to copy from (--from, else the hub's) must be a SQLite file (sqlite:<path>), got "${maskUrl(from)}"`);
  if (!/^postgres(ql)?:\/\//.test(to)) throw new ConfigError(`--to must be a PostgreSQL URL (postgres://user:password@host:port/database), got "${maskUrl(to)}"`);
  // A mistyped path must not create an empty database and "copy" it.
  if (!existsSync(file)) throw new ConfigError(`no database at ${file} to copy from: check the path (--from, else the hub's database)`);
  // Opening brings both schemas to this version of Confluo, so their tables match column for column.
  await (await openStore(from)).close();
  await (await openStore(to)).close();

  const source = new Database(file, { readonly: true, fileMustExist: true });
  const target = new pg.Client({ connectionString: to });
  await target.connect();
  const counts: Record<string, number> = {};
  try {
    for (const { table } of COPIED_TABLES) {
      const { rows } = await target.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      if (Number(rows[0]?.n) > 0) {
        throw new ConfigError(`the target database already holds data (${table}: ${rows[0]?.n} rows); copy only into an empty database`);
      }
    }
    // One read transaction: a consistent snapshot of the file, even if something still wrote to it.
    source.exec('BEGIN');
    await target.query('BEGIN');
    for (const { table, order, serial } of COPIED_TABLES) {
      const total = (source.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      const columns = await targetColumns(target, table);
      const names = (source.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name).filter((name) => columns.has(name));
      let done = 0;
      let batch: unknown[][] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const params: unknown[] = [];
        const tuples = batch.map((row) => `(${row.map((value) => (params.push(value), `$${params.length}`)).join(', ')})`);
        await target.query(`INSERT INTO ${table} (${names.join(', ')}) VALUES ${tuples.join(', ')}`, params);
        done += batch.length;
        batch = [];
        onProgress({ table, rows: total, done });
      };
      onProgress({ table, rows: total, done: 0 });
      for (const row of source.prepare(`SELECT ${names.join(', ')} FROM ${table} ORDER BY ${order}`).raw().iterate() as IterableIterator<unknown[]>) {
        batch.push(row.map((value, i) => toTarget(value, columns.get(names[i] as string))));
        if (batch.length === ROWS_PER_INSERT) await flush();
      }
      await flush();
      if (serial) {
        // New rows continue after the copied ones.
        await target.query(
          `SELECT setval(pg_get_serial_sequence($1, $2), coalesce((SELECT max(${serial}) FROM ${table}), 1), (SELECT max(${serial}) FROM ${table}) IS NOT NULL)`,
          [table, serial],
        );
      }
      counts[table] = done;
    }
    await target.query('COMMIT');
  } catch (error) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    if (source.inTransaction) source.exec('COMMIT');
    source.close();
    await target.end();
  }
  return counts;
}

/** A SQLite value as its PostgreSQL column takes it: booleans from 0/1, NUL (which TEXT refuses) as U+FFFD, as the driver stores it. */
function toTarget(value: unknown, type: string | undefined): unknown {
  if (type === 'boolean') return value === 1;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return storableText(value);
  return value;
}

async function targetColumns(client: pg.Client, table: string): Promise<Map<string, string>> {
  const { rows } = await client.query<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`,
    [table],
  );
  return new Map(rows.map((r) => [r.column_name, r.data_type]));
}

export async function copyCommand(flags: { from?: string; to?: string; config?: string }): Promise<void> {
  if (!flags.to) throw new ConfigError('copy needs --to postgres://… (and reads the hub\'s database, or --from sqlite:<file>)');
  // Without --from, the hub's own database, found as `confluo start` finds it (--from stands for --db).
  const from = (await locate({ ...(flags.from !== undefined ? { db: flags.from } : {}), ...(flags.config !== undefined ? { config: flags.config } : {}) })).db;
  const bar = new SingleBar({ format: '{table} [{bar}] {value}/{total} rows', hideCursor: true, stream: process.stderr }, Presets.shades_classic);
  let current = '';
  const counts = await copyDatabase(from, flags.to, (p) => {
    if (p.table !== current) {
      if (current) bar.stop();
      current = p.table;
      bar.start(p.rows, 0, { table: p.table.padEnd(17) });
    }
    bar.update(p.done);
  });
  if (current) bar.stop();
  const total = Object.values(counts).reduce((s, n) => s + n, 0);
  process.stdout.write(`copied ${total} rows to ${maskUrl(flags.to)}: ${Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(', ')}\n`);
}
