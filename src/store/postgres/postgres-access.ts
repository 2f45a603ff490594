// The access part of the PostgreSQL store (the AccessStore port): API keys by
// hash and the operator-action record, on the store's pool.
import type pg from 'pg';
import type { AccessStore, ApiKey, NewApiKey, NewOperatorAction, OperatorAction } from '../access-store.js';
import { actionValues, apiKeyValues, toAction, toApiKey, type ActionRow, type ApiKeyRow } from '../rows.js';
import { storableText } from './connection.js';

export class PostgresAccess implements AccessStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async createKey(key: NewApiKey): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      'INSERT INTO api_keys (id, name, hash, scopes, events, signing_secret, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING',
      [...apiKeyValues(key)],
    );
    return rowCount === 1;
  }

  async findKey(hash: string): Promise<ApiKey | undefined> {
    const { rows } = await this.#pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE hash = $1 AND revoked_at IS NULL', [hash]);
    return rows[0] && toApiKey(rows[0]);
  }

  async listKeys(): Promise<ApiKey[]> {
    const { rows } = await this.#pool.query<ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, name');
    return rows.map(toApiKey);
  }

  async revokeKey(name: string, now: number): Promise<boolean> {
    const { rowCount } = await this.#pool.query('UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL', [now, name]);
    return rowCount === 1;
  }

  async touchKey(id: string, now: number): Promise<void> {
    await this.#pool.query('UPDATE api_keys SET last_used_at = greatest(coalesce(last_used_at, 0), $1) WHERE id = $2', [now, id]);
  }

  async recordAction(action: NewOperatorAction): Promise<void> {
    const values = actionValues(action);
    await this.#pool.query('INSERT INTO operator_actions (at, actor, action, target, outcome, details) VALUES ($1, $2, $3, $4, $5, $6)', [
      values[0],
      storableText(values[1]),
      values[2],
      storableText(values[3]),
      values[4],
      storableText(values[5]),
    ]);
  }

  async listActions(query: { before?: number; limit: number }): Promise<OperatorAction[]> {
    const { rows } = await this.#pool.query<ActionRow>('SELECT * FROM operator_actions WHERE id < $1 ORDER BY id DESC LIMIT $2', [
      query.before ?? Number.MAX_SAFE_INTEGER,
      query.limit,
    ]);
    return rows.map(toAction);
  }
}
