// Prepared statements, compiled once per SQL text and reused. Preparing on
// every call costs CPU and leaves native statement memory for the garbage
// collector, which does not see it: under steady load RSS crept upwards.
import type Database from 'better-sqlite3';

export class Statements {
  readonly #db: Database.Database;
  readonly #cache = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  get(sql: string): Database.Statement {
    let statement = this.#cache.get(sql);
    if (!statement) this.#cache.set(sql, (statement = this.#db.prepare(sql)));
    return statement;
  }
}
