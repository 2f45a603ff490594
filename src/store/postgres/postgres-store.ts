// The shared store: any number of Confluo processes on one PostgreSQL. Every
// method is one transaction on a pooled connection. Each part has a file of its
// own (postgres-inbox.ts with inbox-claims.ts, postgres-records.ts,
// postgres-deliveries.ts, postgres-sources.ts, postgres-access.ts,
// postgres-health.ts), all on one pool; this file wires them with migrations,
// notifications and the counts.
import type pg from 'pg';
import type { Store, WakeChannel, WakePayload } from '../store.js';
import { openPool, resolveOptions, unreachable, type PostgresStoreOptions, type ResolvedOptions } from './connection.js';
import { InboxClaims } from './inbox-claims.js';
import { PostgresAccess } from './postgres-access.js';
import { PostgresDeliveries } from './postgres-deliveries.js';
import { PostgresHealth } from './postgres-health.js';
import { PostgresInbox } from './postgres-inbox.js';
import { PostgresRecords } from './postgres-records.js';
import { PostgresSources } from './postgres-sources.js';
import { migrate } from './schema.js';
import { WakeListener } from './wake-listener.js';

export class PostgresStore implements Store {
  readonly driver = 'postgres';
  readonly #options: ResolvedOptions;
  readonly #pool: pg.Pool;
  readonly inbox: PostgresInbox;
  readonly records: PostgresRecords;
  readonly deliveries: PostgresDeliveries;
  readonly sources: PostgresSources;
  readonly access: PostgresAccess;
  readonly health: PostgresHealth;
  readonly #listener: WakeListener;
  #closed: Promise<void> | undefined;

  constructor(options: PostgresStoreOptions) {
    this.#options = resolveOptions(options);
    this.#pool = openPool(this.#options);
    this.inbox = new PostgresInbox(this.#pool, new InboxClaims(this.#pool, this.#options));
    this.records = new PostgresRecords(this.#pool);
    this.deliveries = new PostgresDeliveries(this.#pool);
    this.sources = new PostgresSources(this.#pool);
    this.access = new PostgresAccess(this.#pool);
    this.health = new PostgresHealth(this.#pool);
    this.#listener = new WakeListener(this.#options.pool, this.#options.log);
  }

  /** Who holds this store's claims (unique per store unless configured). */
  get owner(): string {
    return this.#options.owner;
  }

  async init(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw unreachable(error, this.#options);
    }
    let broken: Error | undefined;
    try {
      await migrate(client);
    } catch (error) {
      broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    this.#closed ??= Promise.all([this.#listener.close(), this.#pool.end()]).then(() => undefined);
    await this.#closed;
  }

  onWake(channel: WakeChannel, listener: (payload: WakePayload) => void): () => void {
    return this.#listener.add(channel, listener);
  }

  async stats(): Promise<{ queued: number; parkedKeys: number; records: number }> {
    const { rows } = await this.#pool.query<{ queued: number; parkedKeys: number; records: number }>(
      `SELECT (SELECT count(*) FROM inbox WHERE status = 'queued') AS queued,
              (SELECT count(*) FROM parked) AS "parkedKeys",
              (SELECT count(*) FROM records) AS records`,
    );
    return rows[0]!;
  }
}
