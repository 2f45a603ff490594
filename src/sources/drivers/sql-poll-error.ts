// A sql-poll source could not read a page: PostgreSQL could not be reached,
// refused the login, or failed the query for a reason that is not the source's
// configuration (those are ConfigErrors). The message names the database as
// host:port and database name, never the password; `retryable` says whether a
// later run could do better.
import { ConfluoError } from '../../errors/index.js';

export interface SqlPollErrorOptions {
  retryable: boolean;
  /** `host:port/database`, no credentials. */
  database: string;
  /** PostgreSQL's SQLSTATE (e.g. `28P01`), or Node's error code (e.g. `ECONNREFUSED`). */
  reason?: string;
  cause?: unknown;
}

export class SqlPollError extends ConfluoError {
  constructor(message: string, options: SqlPollErrorOptions) {
    const { retryable, database, reason, cause } = options;
    super('SOURCE_SQL_FAILED', message, { retryable, cause, details: { database, ...(reason === undefined ? {} : { reason }) } });
  }
}
