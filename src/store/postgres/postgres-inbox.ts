// The inbox part of the PostgreSQL store (the InboxStore port): accepting
// events and the parked keys; claiming and committing processing batches
// (per-key leases) live in inbox-claims.ts.
import type pg from 'pg';
import type { Backlog, InboxStore } from '../inbox-store.js';
import { toLink, type LinkRow } from '../rows.js';
import type { AcceptOutcome, IdentifierLink, LinkQuery, NewInboxEvent, ParkedKey } from '../types.js';
import { CHANNELS, transaction } from './connection.js';
import type { InboxClaims } from './inbox-claims.js';
import { insertInbox } from './inbox-insert.js';

export class PostgresInbox implements InboxStore {
  readonly #pool: pg.Pool;
  readonly #claims: InboxClaims;

  constructor(pool: pg.Pool, claims: InboxClaims) {
    this.#pool = pool;
    this.#claims = claims;
  }

  async accept(events: NewInboxEvent[]): Promise<AcceptOutcome[]> {
    if (events.length === 0) return [];
    return transaction(this.#pool, (client) => insertInbox(client, events));
  }

  claimBatch: InboxStore['claimBatch'] = (limit) => this.#claims.claimBatch(limit);
  claimAhead: NonNullable<InboxStore['claimAhead']> = (limit, afterSeq) => this.#claims.claimBatch(limit, afterSeq);
  commitBatch: InboxStore['commitBatch'] = (batch) => this.#claims.commitBatch(batch);

  async findLinks(entity: string, query: LinkQuery): Promise<IdentifierLink[]> {
    const { rows } = await this.#pool.query<LinkRow>(
      `SELECT * FROM identifier_links WHERE entity = $1 AND key = ANY($2::text[])
       UNION
       SELECT l.* FROM identifier_links l JOIN unnest($3::text[], $4::text[]) AS v(identifier, value) ON l.identifier = v.identifier AND l.value = v.value
       WHERE l.entity = $1`,
      [entity, query.keys, query.values.map((v) => v.identifier), query.values.map((v) => v.value)],
    );
    return rows.map(toLink);
  }

  async listParked(): Promise<ParkedKey[]> {
    const { rows } = await this.#pool.query<{ entity: string; key: string; event_id: string; error: string; parked_at: number; waiting: number }>(
      `SELECT p.*, (SELECT count(*) FROM inbox i WHERE i.entity = p.entity AND i.key = p.key AND i.status IN ('queued', 'parked')) AS waiting
       FROM parked p ORDER BY parked_at, entity, key`,
    );
    return rows.map((r) => ({ entity: r.entity, key: r.key, eventId: r.event_id, error: JSON.parse(r.error) as ParkedKey['error'], parkedAt: r.parked_at, waiting: r.waiting }));
  }

  /** Unparks the key and sets its head event to `status`; the key's events flow again. */
  async #unpark(entity: string, key: string, status: 'queued' | 'skipped'): Promise<string | undefined> {
    return transaction(this.#pool, async (client) => {
      const { rows } = await client.query<{ event_id: string }>('DELETE FROM parked WHERE entity = $1 AND key = $2 RETURNING event_id', [entity, key]);
      const eventId = rows[0]?.event_id;
      if (eventId === undefined) return undefined;
      if (status === 'queued') await client.query(`UPDATE inbox SET status = 'queued', error = NULL WHERE event_id = $1 AND status = 'parked'`, [eventId]);
      else await client.query(`UPDATE inbox SET status = 'skipped', processed_at = $2 WHERE event_id = $1 AND status = 'parked'`, [eventId, Date.now()]);
      await client.query('SELECT pg_notify($1, $2)', [CHANNELS.inbox, '']);
      return eventId;
    });
  }

  async retryParked(entity: string, key: string): Promise<boolean> {
    return (await this.#unpark(entity, key, 'queued')) !== undefined;
  }

  async skipParked(entity: string, key: string): Promise<{ skippedEventId: string } | undefined> {
    const skippedEventId = await this.#unpark(entity, key, 'skipped');
    return skippedEventId === undefined ? undefined : { skippedEventId };
  }

  async queued(): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM inbox WHERE status = 'queued'`);
    return rows[0]!.n;
  }

  async backlog(): Promise<Backlog> {
    const { rows } = await this.#pool.query<Backlog>(
      `SELECT (SELECT count(*)::int FROM inbox WHERE status = 'queued') AS queued,
              (SELECT accepted_at FROM inbox WHERE status = 'queued' ORDER BY seq LIMIT 1) AS "oldestAcceptedAt",
              (SELECT count(*)::int FROM parked) AS "parkedKeys"`,
    );
    return rows[0]!;
  }

}
