// LISTEN for the store's notification channels on one dedicated connection
// (a pooled one would be handed to other work). Idle processors and
// dispatchers in every process wake when work is committed anywhere; polling
// stays as the fallback for a notification lost while the connection was down.
// A lost connection is opened again with exponential back-off.
import pg from 'pg';
import type { WakeChannel, WakePayload } from '../store.js';
import { CHANNELS, type StoreLog } from './connection.js';

const RETRY_MS = { first: 500, max: 10_000 };

export class WakeListener {
  readonly #config: pg.ClientConfig;
  readonly #log: StoreLog;
  readonly #listeners: Record<WakeChannel, Set<(payload: WakePayload) => void>> = { inbox: new Set(), deliveries: new Set(), outcomes: new Set() };
  #client: pg.Client | undefined;
  #connecting = false;
  #closed = false;
  #retryMs = RETRY_MS.first;
  #retry: NodeJS.Timeout | undefined;
  /** Set while listening stopped after a loss, so its return is reported too. */
  #lostAt: number | undefined;

  constructor(config: pg.ClientConfig, log: StoreLog) {
    this.#config = config;
    this.#log = log;
  }

  /** Calls `listener` on every notification on `channel`, and once whenever listening (re)starts. */
  add(channel: WakeChannel, listener: (payload: WakePayload) => void): () => void {
    this.#listeners[channel].add(listener);
    this.#start();
    return () => {
      this.#listeners[channel].delete(listener);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #fire(channel: WakeChannel, payload?: WakePayload): void {
    for (const listener of this.#listeners[channel]) listener(payload);
  }

  #start(): void {
    if (this.#client || this.#connecting || this.#closed) return;
    this.#connecting = true;
    void this.#connect().finally(() => (this.#connecting = false));
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#config);
    const lost = (error?: Error) => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.end().catch(() => undefined);
      this.#lostAt = Date.now();
      this.#log.warn({ err: error, retryMs: this.#retryMs }, `lost the PostgreSQL notification connection; listening again in ${this.#retryMs} ms`);
      this.#later();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => {
      const channel = (Object.keys(CHANNELS) as WakeChannel[]).find((c) => CHANNELS[c] === message.channel);
      if (channel === 'outcomes') this.#fire(channel, eventIds(message.payload));
      else if (channel) this.#fire(channel);
    });
    try {
      await client.connect();
      for (const name of Object.values(CHANNELS)) await client.query(`LISTEN ${pg.escapeIdentifier(name)}`);
    } catch (error) {
      client.end().catch(() => undefined);
      if (this.#closed) return;
      this.#log.warn({ err: error, retryMs: this.#retryMs }, `could not listen for PostgreSQL notifications; trying again in ${this.#retryMs} ms`);
      this.#later();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#retryMs = RETRY_MS.first;
    if (this.#lostAt !== undefined) this.#log.warn({ downMs: Date.now() - this.#lostAt }, 'listening for PostgreSQL notifications again');
    this.#lostAt = undefined;
    // Work committed while nobody listened sent its notification to no one: look now.
    this.#fire('inbox');
    this.#fire('deliveries');
    this.#fire('outcomes');
  }

  #later(): void {
    if (this.#closed) return;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => this.#start(), this.#retryMs);
    this.#retry.unref();
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MS.max);
  }
}

/** The event ids an `outcomes` notification carries (a JSON array); anything else means "look at all". */
function eventIds(payload: string | undefined): WakePayload {
  try {
    const ids: unknown = JSON.parse(payload ?? '');
    return Array.isArray(ids) && ids.every((id) => typeof id === 'string') ? ids : undefined;
  } catch {
    return undefined;
  }
}
