// The shape of a migrated database, read back from the database itself: one
// line per table, column, NOT NULL, key and index, by name (types are left
// out: INTEGER is BIGINT, 0/1 is BOOLEAN). The schema-parity and upgrade tests
// compare these lines.
import Database from 'better-sqlite3';
import pg from 'pg';

interface Column {
  table: string;
  name: string;
  notNull: boolean;
}
interface Index {
  table: string;
  name: string;
  columns: string[];
  unique: boolean;
  partial: boolean;
  /** `primary` and `unique` indexes come from a table's constraints and are named by the driver, so they are compared by columns. */
  origin: 'primary' | 'unique' | 'index';
}

/** One line per table, column, key and index, sorted: what a diff of two schemas reads best as. */
function schemaLines(tables: string[], columns: Column[], indexes: Index[]): string[] {
  const keys = new Set(indexes.filter((i) => i.origin === 'primary').flatMap((i) => i.columns.map((c) => `${i.table}.${c}`)));
  return [
    ...tables.map((t) => `table ${t}`),
    ...columns.map((c) => `column ${c.table}.${c.name}`),
    // A primary key column is NOT NULL whether or not it says so (SQLite's table_info says it only when spelled out).
    ...columns.filter((c) => c.notNull || keys.has(`${c.table}.${c.name}`)).map((c) => `not null ${c.table}.${c.name}`),
    ...indexes.map((i) =>
      i.origin === 'index'
        ? `${i.unique ? 'unique index' : 'index'} ${i.name} on ${i.table} (${i.columns.join(', ')})${i.partial ? ' partial' : ''}`
        : `${i.origin === 'primary' ? 'primary key' : 'unique'} ${i.table} (${i.columns.join(', ')})`,
    ),
  ].sort();
}

export function sqliteSchema(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    // sqlite_sequence (AUTOINCREMENT's counters) and the like are SQLite's own.
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as Array<{ name: string }>).map((t) => t.name);
    const columns: Column[] = [];
    const indexes: Index[] = [];
    for (const table of tables) {
      const info = db.pragma(`table_info(${JSON.stringify(table)})`) as Array<{ name: string; notnull: number; pk: number }>;
      columns.push(...info.map((c) => ({ table, name: c.name, notNull: c.notnull === 1 })));
      const primary = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
      // A rowid table's INTEGER PRIMARY KEY has no index of its own, so the key comes from table_info.
      if (primary.length > 0) indexes.push({ table, name: '', columns: primary.map((c) => c.name), unique: true, partial: false, origin: 'primary' });
      for (const index of db.pragma(`index_list(${JSON.stringify(table)})`) as Array<{ name: string; unique: number; origin: 'c' | 'u' | 'pk'; partial: number }>) {
        if (index.origin === 'pk') continue;
        const indexColumns = (db.pragma(`index_info(${JSON.stringify(index.name)})`) as Array<{ seqno: number; name: string }>).sort((a, b) => a.seqno - b.seqno).map((c) => c.name);
        indexes.push({ table, name: index.name, columns: indexColumns, unique: index.unique === 1, partial: index.partial === 1, origin: index.origin === 'u' ? 'unique' : 'index' });
      }
    }
    return schemaLines(tables, columns, indexes);
  } finally {
    db.close();
  }
}

export async function postgresSchema(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
    );
    const columns = await client.query<{ table: string; name: string; nullable: 'YES' | 'NO' }>(
      `SELECT table_name AS table, column_name AS name, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = current_schema()`,
    );
    const indexes = await client.query<{ table: string; name: string; columns: string[]; unique: boolean; primary: boolean; partial: boolean; constraint: boolean }>(
      `SELECT t.relname AS table, i.relname AS name, x.indisunique AS unique, x.indisprimary AS primary, x.indpred IS NOT NULL AS partial,
              EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u')) AS constraint,
              array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
       WHERE t.relnamespace = current_schema()::regnamespace`,
    );
    return schemaLines(
      tables.rows.map((t) => t.name),
      columns.rows.map((c) => ({ table: c.table, name: c.name, notNull: c.nullable === 'NO' })),
      indexes.rows.map((i) => ({
        table: i.table,
        name: i.name,
        columns: i.columns,
        unique: i.unique,
        partial: i.partial,
        origin: i.primary ? 'primary' : i.constraint ? 'unique' : 'index',
      })),
    );
  } finally {
    await client.end();
  }
}
