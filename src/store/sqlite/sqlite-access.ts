// The access part of the SQLite store (the AccessStore port): API keys by
// hash and the operator-action record, on the hub's one connection.
import type Database from 'better-sqlite3';
import type { AccessStore, ApiKey, NewApiKey, NewOperatorAction, OperatorAction } from '../access-store.js';
import { actionValues, apiKeyValues, toAction, toApiKey, type ActionRow, type ApiKeyRow } from '../rows.js';
import { Statements } from './statements.js';

export class SqliteAccess implements AccessStore {
  readonly #sql: Statements;

  constructor(db: Database.Database) {
    this.#sql = new Statements(db);
  }

  async createKey(key: NewApiKey): Promise<boolean> {
    const insert = this.#sql.get(
      `INSERT INTO api_keys (id, name, hash, scopes, events, signing_secret, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    return insert.run(...apiKeyValues(key)).changes === 1;
  }

  async findKey(hash: string): Promise<ApiKey | undefined> {
    const row = this.#sql.get('SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL').get(hash) as ApiKeyRow | undefined;
    return row && toApiKey(row);
  }

  async listKeys(): Promise<ApiKey[]> {
    return (this.#sql.get('SELECT * FROM api_keys ORDER BY created_at, name').all() as ApiKeyRow[]).map(toApiKey);
  }

  async revokeKey(name: string, now: number): Promise<boolean> {
    return this.#sql.get('UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(now, name).changes === 1;
  }

  async touchKey(id: string, now: number): Promise<void> {
    this.#sql.get('UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?').run(now, id);
  }

  async recordAction(action: NewOperatorAction): Promise<void> {
    this.#sql.get('INSERT INTO operator_actions (at, actor, action, target, outcome, details) VALUES (?, ?, ?, ?, ?, ?)').run(...actionValues(action));
  }

  async listActions(query: { before?: number; limit: number }): Promise<OperatorAction[]> {
    const rows = this.#sql.get('SELECT * FROM operator_actions WHERE id < ? ORDER BY id DESC LIMIT ?').all(query.before ?? Number.MAX_SAFE_INTEGER, query.limit) as ActionRow[];
    return rows.map(toAction);
  }
}
