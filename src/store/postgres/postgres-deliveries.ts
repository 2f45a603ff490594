// The deliveries part of the PostgreSQL store (the DeliveryStore port). Claims
// lock rows with `FOR UPDATE SKIP LOCKED`, so dispatchers in many processes
// share the due deliveries without waiting on each other; a lease makes a
// killed dispatcher's deliveries due again.
import type pg from 'pg';
import type { DeliveryStore } from '../delivery-store.js';
import type {
  AttemptSettlement,
  ClaimRequest,
  Delivery,
  DeliveryAttempt,
  DeliveryFilter,
  DeliveryWithLog,
  DeliveryStatus,
  DigestWindow,
  IntegrationRow,
  IntegrationStateRow,
  IntegrationState,
  NewDelivery,
  IntegrationBacklog,
} from '../delivery-types.js';
import {
  completedAt,
  DELIVERY_COLUMNS,
  deliveryFromColumns,
  followStreak,
  inReplayRange,
  newAttemptRow,
  newDeliveryRow,
  noStreak,
  REPLAYABLE,
  restartCycle,
  toAttempt,
  toDelivery,
  toDigestWindow,
  toIntegrations,
  toIntegrationState,
  withLogs,
  type AttemptRowDb,
  type DeliveryRowDb,
  type DigestItemRowDb,
  type IntegrationRowDb,
  backlogFromCounts,
} from '../delivery-rows.js';
import { BEGIN_INDEX_SCANS, CHANNELS, jsonRows, named, storableText, transaction } from './connection.js';

/** Starts a new cycle and frees the lease it may hold. `$1` is now. */
const RESTART_CYCLE = `${restartCycle('$1')}, lease_until = NULL, lease_owner = NULL`;

const NEW_DELIVERY_COLUMNS = {
  delivery_id: 'text',
  integration: 'text',
  kind: 'text',
  entity: 'text',
  key: 'text',
  event_id: 'text',
  version: 'int',
  request: 'text',
  status: 'text',
  cycle_started_at: 'bigint',
  next_attempt_at: 'bigint',
  last_error: 'text',
  created_at: 'bigint',
  updated_at: 'bigint',
  completed_at: 'bigint',
};

const SETTLEMENT_ROWS = jsonRows(1, {
  i: 'int',
  delivery_id: 'text',
  owner: 'text',
  status: 'text',
  next_attempt_at: 'bigint',
  error: 'text',
  last_status: 'int',
  completed_at: 'bigint',
});
const ATTEMPT_ROWS = jsonRows(4, {
  i: 'int',
  delivery_id: 'text',
  attempt: 'int',
  trigger: 'text',
  started_at: 'bigint',
  duration_ms: 'int',
  method: 'text',
  url: 'text',
  request_headers: 'text',
  status: 'int',
  response: 'text',
  error: 'text',
  outcome: 'text',
  next_attempt_at: 'bigint',
});
const STREAK_ROWS = jsonRows(1, { name: 'text', failing_since: 'bigint', consecutive_failures: 'int' });

/**
 * One round of a settlement, in one statement (it was three round trips): the deliveries whose
 * lease is still the settler's ($1, found by id through $3; $2 is now), the attempt log of those
 * that won ($4), and, when every attempt of the batch succeeded ($5), the reset of their
 * integrations' failure streaks that are not at zero already.
 */
const SETTLE_ROUND = `WITH
  settled AS (
    UPDATE deliveries d SET status = u.status, attempts = d.attempts + 1, total_attempts = d.total_attempts + 1, next_attempt_at = u.next_attempt_at,
      trigger = 'scheduled', lease_until = NULL, lease_owner = NULL, last_error = u.error, last_status = u.last_status, updated_at = $2, completed_at = u.completed_at
    FROM ${SETTLEMENT_ROWS}
    WHERE d.delivery_id = ANY($3::text[]) AND d.delivery_id = u.delivery_id AND d.status = 'pending' AND d.lease_owner = u.owner
    RETURNING u.i, d.integration),
  logged AS (
    INSERT INTO delivery_attempts (delivery_id, attempt, trigger, started_at, duration_ms, method, url, request_headers, status, response, error, outcome, next_attempt_at)
    SELECT u.delivery_id, u.attempt, u.trigger, u.started_at, u.duration_ms, u.method, u.url, u.request_headers, u.status, u.response, u.error, u.outcome, u.next_attempt_at
    FROM ${ATTEMPT_ROWS} JOIN settled s ON s.i = u.i ORDER BY u.n),
  reset AS (
    UPDATE integrations SET failing_since = NULL, consecutive_failures = 0
    -- By a sorted array: the primary key index then locks the rows in name order, so two settlers never deadlock.
    WHERE $5::boolean AND name = ANY((SELECT array_agg(DISTINCT integration ORDER BY integration) FROM settled)::text[]) AND (failing_since IS NOT NULL OR consecutive_failures <> 0))
SELECT i, integration FROM settled`;

/**
 * The INSERT of new deliveries sent as JSON rows in parameter `param` (see `newDeliveriesParam`):
 * a statement of its own, or one step of a processing commit's single statement.
 */
export const insertDeliveriesFrom = (param: number): string =>
  `INSERT INTO deliveries (delivery_id, integration, kind, entity, key, event_id, version, request, status, cycle_started_at, next_attempt_at, last_error, created_at, updated_at, completed_at)
   SELECT delivery_id, integration, kind, entity, key, event_id, version, request, status, cycle_started_at, next_attempt_at, last_error, created_at, updated_at, completed_at
   FROM ${jsonRows(param, NEW_DELIVERY_COLUMNS)} ORDER BY n
   ON CONFLICT (delivery_id) DO NOTHING`;

export const newDeliveriesParam = (deliveries: readonly NewDelivery[]): string =>
  JSON.stringify(deliveries.map((x) => ({ ...newDeliveryRow(x), last_error: storableText(x.reason ?? null) })));

/** Pending deliveries wake the dispatchers of every process when their transaction commits. */
export const wakesDispatchers = (deliveries: readonly NewDelivery[]): boolean => deliveries.some((x) => x.status === 'pending');

const notifyDeliveries = (client: pg.ClientBase) => client.query(named('deliveries.notify', 'SELECT pg_notify($1, $2)'), [CHANNELS.deliveries, '']);

/** Writes new deliveries in the caller's transaction (the outbox); pending ones wake dispatchers on commit. */
export async function insertDeliveries(client: pg.ClientBase, deliveries: readonly NewDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  await client.query(named('deliveries.insert', insertDeliveriesFrom(1)), [newDeliveriesParam(deliveries)]);
  if (wakesDispatchers(deliveries)) await notifyDeliveries(client);
}

export class PostgresDeliveries implements DeliveryStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async registerIntegrations(names: readonly string[], now: number): Promise<void> {
    if (names.length === 0) return;
    await this.#pool.query(
      `INSERT INTO integrations (name, state, updated_at) SELECT n, 'active', $2 FROM unnest($1::text[]) AS u(n) ORDER BY n ON CONFLICT (name) DO NOTHING`,
      [names, now],
    );
  }

  async listIntegrations(): Promise<IntegrationRow[]> {
    const [rows, counts] = await Promise.all([
      this.#pool.query<IntegrationRowDb>('SELECT * FROM integrations ORDER BY name'),
      this.#pool.query<{ integration: string; status: DeliveryStatus; n: number }>('SELECT integration, status, count(*) AS n FROM deliveries GROUP BY integration, status'),
    ]);
    return toIntegrations(rows.rows, counts.rows);
  }

  async listIntegrationStates(): Promise<IntegrationStateRow[]> {
    const { rows } = await this.#pool.query<IntegrationRowDb>('SELECT * FROM integrations ORDER BY name');
    return rows.map(toIntegrationState);
  }

  async backlogByIntegration(): Promise<IntegrationBacklog[]> {
    const { rows } = await this.#pool.query<{ integration: string; status: 'pending' | 'dead'; n: number }>(
      `SELECT integration, 'pending' AS status, count(*) AS n FROM deliveries WHERE status = 'pending' GROUP BY integration
         UNION ALL SELECT integration, 'dead' AS status, count(*) AS n FROM deliveries WHERE status = 'dead' GROUP BY integration`,
    );
    return backlogFromCounts(rows);
  }

  async setIntegrationState(name: string, state: IntegrationState, reason: string | null, now: number): Promise<IntegrationState | undefined> {
    return transaction(this.#pool, async (client) => {
      const { rows } = await client.query<{ state: IntegrationState }>('SELECT state FROM integrations WHERE name = $1 FOR UPDATE', [name]);
      const previous = rows[0]?.state;
      if (previous === undefined) return undefined;
      // Coming back to active forgives the failure streak that disabled it.
      await client.query(
        `UPDATE integrations SET state = $1, reason = $2, updated_at = $3,
           failing_since = CASE WHEN $1 = 'active' THEN NULL ELSE failing_since END,
           consecutive_failures = CASE WHEN $1 = 'active' THEN 0 ELSE consecutive_failures END
         WHERE name = $4`,
        [state, storableText(reason), now, name],
      );
      if (state === 'active' && previous !== 'active') await notifyDeliveries(client);
      return previous;
    });
  }

  async claimDeliveries(requests: readonly ClaimRequest[], options: { now: number; leaseMs: number; owner: string }): Promise<Delivery[]> {
    const { now, leaseMs, owner } = options;
    const wanted = requests.filter((r) => r.limit > 0);
    if (wanted.length === 0) return [];
    return transaction(this.#pool, async (client) => {
      const claimed: Delivery[] = [];
      for (const request of wanted) {
        // Ordered: only each key's oldest pending delivery may go; one in flight or waiting to retry
        // holds the later ones back. The due deliveries are read oldest first and each is checked
        // against its key's oldest pending one, so a claim reads only as far as it must to fill its
        // limit. The check is a subquery on purpose: run per row with the row's key, it is one probe
        // of the pending-by-key index, the one index that gives a key's pending deliveries in seq
        // order (a young table's statistics make every index look alike, and another would read
        // every pending delivery of the integration per row, as an anti-join did). Finding every
        // key's head first made each claim read the whole pending backlog.
        // FOR UPDATE re-checks the conditions on `d` against the row's latest version, so a
        // delivery another worker settled or leased meanwhile is skipped.
        const head = request.ordered
          ? `AND d.seq = (SELECT e.seq FROM deliveries e WHERE e.integration = d.integration AND e.key = d.key AND e.status = 'pending' ORDER BY e.seq LIMIT 1)`
          : '';
        const { rows } = await client.query<unknown[]>({
          name: request.ordered ? 'deliveries.claim-ordered' : 'deliveries.claim',
          rowMode: 'array',
          text: `WITH due AS (
             SELECT d.seq FROM deliveries d
             WHERE d.status = 'pending' AND d.integration = $1 AND d.next_attempt_at <= $2 AND (d.lease_until IS NULL OR d.lease_until <= $2) ${head}
               AND EXISTS (SELECT 1 FROM integrations i WHERE i.name = d.integration AND i.state = 'active')
             ORDER BY d.next_attempt_at, d.seq LIMIT $3
             FOR UPDATE OF d SKIP LOCKED)
           UPDATE deliveries d SET lease_until = $4, lease_owner = $5 FROM due WHERE d.seq = due.seq RETURNING ${DELIVERY_COLUMNS.map((c) => `d.${c}`).join(', ')}`,
          values: [request.integration, now, request.limit, now + leaseMs, owner],
        });
        const batch = rows.map(deliveryFromColumns).sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0) || a.seq - b.seq);
        claimed.push(...batch);
      }
      return claimed;
    }, BEGIN_INDEX_SCANS);
  }

  /**
   * One statement per table for the whole batch, not three round trips per settlement: the
   * integration rows stay locked until commit, so every round trip here made the other
   * dispatchers' settlements (and, through the pool, claims and ingest) wait. The streaks are
   * worked out here, in order, from the locked rows.
   */
  async settleAttempts(settlements: readonly AttemptSettlement[], now: number): Promise<Array<{ failingSince: number | null; consecutiveFailures: number } | undefined>> {
    if (settlements.length === 0) return [];
    return transaction(this.#pool, async (client) => {
      // A batch of successes ends every streak at zero whatever it was, so it needs no lock on the
      // integration rows: it resets only the ones that are not at zero (below). Those locks are held
      // to commit, and a healthy integration's settlements would otherwise queue on them one by one.
      const allSucceeded = settlements.every((s) => s.integrationSucceeded);
      // Integration rows first, in name order: two dispatchers settling for the same integrations
      // then queue on them in one order instead of deadlocking.
      const locked = allSucceeded
        ? { rows: [] }
        : await client.query<{ name: string; failing_since: number | null; consecutive_failures: number }>(
            named('settle.lock', `SELECT name, failing_since, consecutive_failures FROM integrations
             WHERE name IN (SELECT integration FROM deliveries WHERE delivery_id = ANY($1::text[])) ORDER BY name FOR UPDATE`),
            [settlements.map((s) => s.attempt.deliveryId)],
          );
      // Per delivery, the first settlement (in order) by its lease holder wins; the win clears the
      // lease, so any later one for it finds the lease lost, as settling one by one would. An UPDATE
      // changes a row once, so a delivery settled twice in the batch (never, from the dispatcher)
      // takes one round per settlement, in order, until one wins. Each round finds its rows through
      // the delivery_id index (the id array says how few rows: from the JSON alone the planner guesses
      // 100 and scans every pending delivery); the lease conditions are checked against each row's
      // latest version.
      const won = new Map<number, string>();
      let left = settlements.map((_, i) => i);
      while (left.length > 0) {
        const seen = new Set<string>();
        const round: number[] = [];
        const later: number[] = [];
        for (const i of left) {
          const id = settlements[i]!.attempt.deliveryId;
          (seen.has(id) ? later : round).push(i);
          seen.add(id);
        }
        const owned = await client.query<{ i: number; integration: string }>(named('settle.round', SETTLE_ROUND), [
          JSON.stringify(
            round.map((i) => {
              const s = settlements[i]!;
              return {
                i,
                delivery_id: s.attempt.deliveryId,
                owner: s.owner,
                status: s.status,
                next_attempt_at: s.nextAttemptAt,
                error: storableText(s.attempt.error),
                last_status: s.attempt.status,
                completed_at: completedAt(s.status, now),
              };
            }),
          ),
          now,
          round.map((i) => settlements[i]!.attempt.deliveryId),
          JSON.stringify(
            round.map((i) => {
              const a = settlements[i]!.attempt;
              return { i, ...newAttemptRow(a), response: storableText(a.response), error: storableText(a.error) };
            }),
          ),
          allSucceeded,
        ]);
        for (const r of owned.rows) won.set(r.i, r.integration);
        const settled = new Set(owned.rows.map((r) => settlements[r.i]!.attempt.deliveryId));
        left = later.filter((i) => !settled.has(settlements[i]!.attempt.deliveryId));
      }
      if (allSucceeded) return settlements.map((_, i) => (won.has(i) ? noStreak() : undefined));
      const streaks = new Map(locked.rows.map((r) => [r.name, { failingSince: r.failing_since, consecutiveFailures: r.consecutive_failures }]));
      const changed = new Set<string>();
      const results = settlements.map((s, i) => {
        const integration = won.get(i);
        if (integration === undefined) return undefined;
        const before = streaks.get(integration);
        // An integration without a row has no streak to keep (settling one by one updated nothing).
        if (!before) return noStreak();
        const after = followStreak(before, s);
        streaks.set(integration, after);
        changed.add(integration);
        return after;
      });
      if (changed.size > 0) {
        await client.query(
          named('settle.streaks', `UPDATE integrations i SET failing_since = u.failing_since, consecutive_failures = u.consecutive_failures FROM ${STREAK_ROWS} WHERE i.name = u.name`),
          [JSON.stringify([...changed].map((name) => ({ name, failing_since: streaks.get(name)!.failingSince, consecutive_failures: streaks.get(name)!.consecutiveFailures })))],
        );
      }
      return results;
    }, BEGIN_INDEX_SCANS);
  }

  async listDeliveries(filter: DeliveryFilter): Promise<Delivery[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (column: string, value: unknown) => {
      args.push(value);
      where.push(`${column} $${args.length}`);
    };
    if (filter.integration !== undefined) add('integration =', filter.integration);
    if (filter.status !== undefined) add('status =', filter.status);
    if (filter.key !== undefined) add('key =', filter.key);
    if (filter.eventId !== undefined) add('event_id =', filter.eventId);
    if (filter.before !== undefined) add('seq <', filter.before);
    args.push(filter.limit);
    const { rows } = await this.#pool.query<DeliveryRowDb>(
      `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map(toDelivery);
  }

  async listDeliveriesOfEvents(eventIds: readonly string[]): Promise<DeliveryWithLog[]> {
    const { rows } = await this.#pool.query<DeliveryRowDb>('SELECT * FROM deliveries WHERE event_id = ANY($1::text[]) ORDER BY seq', [eventIds]);
    return this.#withLogs(rows);
  }

  async listDeliveriesOfKey(entity: string, key: string, sinceVersion: number): Promise<DeliveryWithLog[]> {
    const { rows } = await this.#pool.query<DeliveryRowDb>(
      'SELECT * FROM deliveries WHERE event_id IN (SELECT event_id FROM changes WHERE entity = $1 AND key = $2 AND version >= $3) AND entity = $1 AND key = $2 ORDER BY seq',
      [entity, key, sinceVersion],
    );
    return this.#withLogs(rows);
  }

  async #withLogs(rows: readonly DeliveryRowDb[]): Promise<DeliveryWithLog[]> {
    if (rows.length === 0) return [];
    const attempts = await this.#pool.query<AttemptRowDb>('SELECT * FROM delivery_attempts WHERE delivery_id = ANY($1::text[]) ORDER BY id', [rows.map((r) => r.delivery_id)]);
    return withLogs(rows, attempts.rows);
  }

  async getDelivery(deliveryId: string): Promise<(Delivery & { log: DeliveryAttempt[] }) | undefined> {
    const [delivery, attempts] = await Promise.all([
      this.#pool.query<DeliveryRowDb>('SELECT * FROM deliveries WHERE delivery_id = $1', [deliveryId]),
      this.#pool.query<AttemptRowDb>('SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id', [deliveryId]),
    ]);
    const row = delivery.rows[0];
    if (!row) return undefined;
    return {
      ...toDelivery(row),
      log: attempts.rows.map(toAttempt),
    };
  }

  async retryDelivery(deliveryId: string, now: number): Promise<boolean> {
    return transaction(this.#pool, async (client) => {
      const { rowCount } = await client.query(`UPDATE deliveries SET ${RESTART_CYCLE} WHERE delivery_id = $2 AND ${REPLAYABLE}`, [now, deliveryId]);
      if (rowCount !== 1) return false;
      await notifyDeliveries(client);
      return true;
    });
  }

  async countReplayable(integration: string, since: number, until: number): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>(
      `SELECT count(*) AS n FROM deliveries WHERE ${inReplayRange('$1', '$2', '$3')}`,
      [integration, since, until],
    );
    return rows[0]?.n ?? 0;
  }

  async replayDeliveries(integration: string, since: number, until: number, options: { afterSeq: number; limit: number; now: number }): Promise<{ replayed: number; lastSeq: number | null }> {
    return transaction(this.#pool, async (client) => {
      const { rows } = await client.query<{ seq: number }>(
        `WITH picked AS (
           SELECT seq FROM deliveries WHERE ${inReplayRange('$2', '$3', '$4')} AND seq > $5
           ORDER BY seq LIMIT $6 FOR UPDATE)
         UPDATE deliveries d SET ${RESTART_CYCLE} FROM picked WHERE d.seq = picked.seq RETURNING d.seq`,
        [options.now, integration, since, until, options.afterSeq, options.limit],
      );
      if (rows.length > 0) await notifyDeliveries(client);
      return { replayed: rows.length, lastSeq: rows.length === 0 ? null : Math.max(...rows.map((r) => r.seq)) };
    });
  }

  async takeDigestWindow(integration: string, windowMs: number, now: number): Promise<DigestWindow | undefined> {
    const { rows } = await this.#pool.query<DigestItemRowDb>(
      `SELECT * FROM digest_items WHERE integration = $1 AND NOT folded AND window_start = (
         SELECT min(window_start) FROM digest_items WHERE integration = $1 AND NOT folded AND window_start + $2 <= $3)
       ORDER BY id`,
      [integration, windowMs, now],
    );
    return toDigestWindow(integration, rows);
  }

  async commitDigest(window: DigestWindow, delivery: NewDelivery | undefined): Promise<void> {
    await transaction(this.#pool, async (client) => {
      const { rowCount } = await client.query('UPDATE digest_items SET folded = true WHERE id = ANY($1::bigint[]) AND NOT folded', [window.items.map((i) => i.id)]);
      if (rowCount !== window.items.length) throw new Error(`digest window ${window.integration}@${window.windowStart} was folded concurrently`);
      if (delivery) await insertDeliveries(client, [delivery]);
    });
  }
}
