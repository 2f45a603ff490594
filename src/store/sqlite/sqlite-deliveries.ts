// The deliveries part of the SQLite store (the DeliveryStore port), sharing the
// hub's one connection.
//
// Leases live in this object, not in the delivery rows. An embedded SQLite
// file has one process (one `confluo start` per file), so a lease only has to
// hold between the dispatchers of this process, and it must end with it: a
// killed process's deliveries are due again as soon as the next one starts,
// without waiting for a lease to run out. Claiming writes nothing to the
// database file, which was a row rewrite and a WAL commit per claim; keeping
// the leases in a TEMP table instead still cost two statements a delivery.
import type Database from 'better-sqlite3';
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
  type FailureStreak,
  type IntegrationRowDb,
  backlogFromCounts,
} from '../delivery-rows.js';
import { Statements } from './statements.js';

/**
 * Due deliveries of one integration, oldest first, but those in the JSON array of leased seqs;
 * `ordered` skips keys with an earlier pending one. The integration is known active (checked
 * once per claim).
 */
const claimSql = (ordered: boolean) =>
  `SELECT ${DELIVERY_COLUMNS.map((c) => `d.${c}`).join(', ')} FROM deliveries d
   WHERE d.status = 'pending' AND d.integration = ? AND d.next_attempt_at <= ?
     AND d.seq NOT IN (SELECT value FROM json_each(?))
     ${ordered ? `AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.status = 'pending' AND e.integration = d.integration AND e.key = d.key AND e.seq < d.seq)` : ''}
   ORDER BY d.next_attempt_at, d.seq LIMIT ?`;

/** Which of this process's dispatchers holds a pending delivery, until when. */
interface Lease {
  seq: number;
  integration: string;
  owner: string;
  until: number;
}

export function insertDeliveryStatement(db: Database.Database) {
  // Positional parameters: binding an object of named ones (and spreading the delivery into it)
  // cost about 3 µs a row on the processing path.
  const insert = db.prepare(
    `INSERT INTO deliveries (delivery_id, integration, kind, entity, key, event_id, version, request, status, cycle_started_at, next_attempt_at, last_error, created_at, updated_at, completed_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (delivery_id) DO NOTHING`,
  );
  return (d: NewDelivery) => {
    const r = newDeliveryRow(d);
    return insert.run(r.delivery_id, r.integration, r.kind, r.entity, r.key, r.event_id, r.version, r.request, r.status, r.cycle_started_at, r.next_attempt_at, r.last_error, r.created_at, r.updated_at, r.completed_at);
  };
}

export class SqliteDeliveries implements DeliveryStore {
  readonly #db: Database.Database;
  readonly #sql: Statements;
  readonly #insert: (d: NewDelivery) => Database.RunResult;
  readonly #claim: Database.Statement;
  readonly #claimOrdered: Database.Statement;
  /** By delivery id. A lease that ran out stays until it is claimed again or settled. */
  readonly #leases = new Map<string, Lease>();

  constructor(db: Database.Database) {
    this.#db = db;
    this.#sql = new Statements(db);
    this.#insert = insertDeliveryStatement(db);
    this.#claim = db.prepare(claimSql(false)).raw(true);
    this.#claimOrdered = db.prepare(claimSql(true)).raw(true);
  }

  #prepare(sql: string): Database.Statement {
    return this.#sql.get(sql);
  }

  async registerIntegrations(names: readonly string[], now: number): Promise<void> {
    const insert = this.#prepare(`INSERT INTO integrations (name, state, updated_at) VALUES (?, 'active', ?) ON CONFLICT (name) DO NOTHING`);
    this.#db.transaction(() => names.forEach((n) => insert.run(n, now))).immediate();
  }

  async listIntegrations(): Promise<IntegrationRow[]> {
    const rows = this.#prepare('SELECT * FROM integrations ORDER BY name').all() as IntegrationRowDb[];
    const counts = this.#prepare('SELECT integration, status, count(*) AS n FROM deliveries GROUP BY integration, status').all() as Array<{ integration: string; status: DeliveryStatus; n: number }>;
    return toIntegrations(rows, counts);
  }

  async listIntegrationStates(): Promise<IntegrationStateRow[]> {
    return (this.#prepare('SELECT * FROM integrations ORDER BY name').all() as IntegrationRowDb[]).map(toIntegrationState);
  }

  async backlogByIntegration(): Promise<IntegrationBacklog[]> {
    return backlogFromCounts(
      this.#prepare(
        `SELECT integration, 'pending' AS status, count(*) AS n FROM deliveries WHERE status = 'pending' GROUP BY integration
         UNION ALL SELECT integration, 'dead' AS status, count(*) AS n FROM deliveries WHERE status = 'dead' GROUP BY integration`,
      ).all() as Array<{ integration: string; status: 'pending' | 'dead'; n: number }>,
    );
  }

  async setIntegrationState(name: string, state: IntegrationState, reason: string | null, now: number): Promise<IntegrationState | undefined> {
    return this.#db.transaction(() => {
      const row = this.#prepare('SELECT state FROM integrations WHERE name = ?').get(name) as { state: IntegrationState } | undefined;
      if (!row) return undefined;
      // Coming back to active forgives the failure streak that disabled it.
      this
        .#prepare(`UPDATE integrations SET state = ?, reason = ?, updated_at = ?, failing_since = CASE WHEN ? = 'active' THEN NULL ELSE failing_since END, consecutive_failures = CASE WHEN ? = 'active' THEN 0 ELSE consecutive_failures END WHERE name = ?`)
        .run(state, reason, now, state, state, name);
      return row.state;
    }).immediate();
  }

  async claimDeliveries(requests: readonly ClaimRequest[], options: { now: number; leaseMs: number; owner: string }): Promise<Delivery[]> {
    const { now, leaseMs, owner } = options;
    const active = this.#prepare(`SELECT 1 FROM integrations WHERE name = ? AND state = 'active'`);
    const claimed = this.#db.transaction(() => {
      const found: Delivery[] = [];
      for (const request of requests) {
        if (request.limit <= 0 || active.get(request.integration) === undefined) continue;
        const held: number[] = [];
        for (const lease of this.#leases.values()) if (lease.integration === request.integration && lease.until > now) held.push(lease.seq);
        const rows = (request.ordered ? this.#claimOrdered : this.#claim).all(request.integration, now, JSON.stringify(held), request.limit) as unknown[][];
        for (const row of rows) found.push(deliveryFromColumns(row));
      }
      return found;
    }).deferred();
    // Taken over from whoever held it before, if that lease ran out.
    for (const d of claimed) this.#leases.set(d.deliveryId, { seq: d.seq, integration: d.integration, owner, until: now + leaseMs });
    return claimed;
  }

  async settleAttempts(settlements: readonly AttemptSettlement[], now: number): Promise<Array<{ failingSince: number | null; consecutiveFailures: number } | undefined>> {
    const settle = this.#prepare(
      `UPDATE deliveries SET status = ?, attempts = attempts + 1, total_attempts = total_attempts + 1, next_attempt_at = ?, trigger = 'scheduled',
         last_error = ?, last_status = ?, updated_at = ?, completed_at = ?
       WHERE seq = ? AND status = 'pending'`,
    );
    const insertAttempt = this.#prepare(
      `INSERT INTO delivery_attempts (delivery_id, attempt, trigger, started_at, duration_ms, method, url, request_headers, status, response, error, outcome, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const readStreak = this.#prepare('SELECT failing_since, consecutive_failures FROM integrations WHERE name = ?');
    const writeStreak = this.#prepare('UPDATE integrations SET failing_since = ?, consecutive_failures = ? WHERE name = ?');
    const results = this.#db.transaction(() => {
      // Each integration's streak is read once, followed through the batch in order, and written once.
      const streaks = new Map<string, FailureStreak | null>();
      const results = settlements.map((s) => {
        const a = s.attempt;
        // Only the lease holder settles: once the lease is lost (taken over after it ran out), nothing is written.
        const lease = this.#leases.get(a.deliveryId);
        if (lease?.owner !== s.owner) return undefined;
        if (settle.run(s.status, s.nextAttemptAt, a.error, a.status, now, completedAt(s.status, now), lease.seq).changes === 0) return undefined;
        const r = newAttemptRow(a);
        insertAttempt.run(r.delivery_id, r.attempt, r.trigger, r.started_at, r.duration_ms, r.method, r.url, r.request_headers, r.status, r.response, r.error, r.outcome, r.next_attempt_at);
        let streak = streaks.get(lease.integration);
        if (streak === undefined) {
          const stored = readStreak.get(lease.integration) as { failing_since: number | null; consecutive_failures: number } | undefined;
          streak = stored ? { failingSince: stored.failing_since, consecutiveFailures: stored.consecutive_failures } : null;
        }
        // An integration without a row (never registered) has no streak to keep.
        if (streak !== null) streak = followStreak(streak, s);
        streaks.set(lease.integration, streak);
        return streak ?? noStreak();
      });
      for (const [name, streak] of streaks) if (streak) writeStreak.run(streak.failingSince, streak.consecutiveFailures, name);
      return results;
    }).immediate();
    // Released once the transaction committed: had it failed, the leases would still hold.
    for (const s of settlements) if (this.#leases.get(s.attempt.deliveryId)?.owner === s.owner) this.#leases.delete(s.attempt.deliveryId);
    return results;
  }

  async listDeliveries(filter: DeliveryFilter): Promise<Delivery[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      where.push(sql);
      args.push(value);
    };
    if (filter.integration !== undefined) add('integration = ?', filter.integration);
    if (filter.status !== undefined) add('status = ?', filter.status);
    if (filter.key !== undefined) add('key = ?', filter.key);
    if (filter.eventId !== undefined) add('event_id = ?', filter.eventId);
    if (filter.before !== undefined) add('seq < ?', filter.before);
    const rows = this
      .#prepare(`SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`)
      .all(...args, filter.limit) as DeliveryRowDb[];
    return rows.map(toDelivery);
  }

  async getDelivery(deliveryId: string): Promise<(Delivery & { log: DeliveryAttempt[] }) | undefined> {
    const row = this.#prepare('SELECT * FROM deliveries WHERE delivery_id = ?').get(deliveryId) as DeliveryRowDb | undefined;
    if (!row) return undefined;
    const attempts = this.#prepare('SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY id').all(deliveryId) as AttemptRowDb[];
    return { ...toDelivery(row), log: attempts.map(toAttempt) };
  }

  async listDeliveriesOfEvents(eventIds: readonly string[]): Promise<DeliveryWithLog[]> {
    // The ids travel as one JSON array: one statement for any number of them.
    return this.#withLogs(this.#prepare('SELECT * FROM deliveries WHERE event_id IN (SELECT value FROM json_each(?)) ORDER BY seq').all(JSON.stringify(eventIds)) as DeliveryRowDb[]);
  }

  async listDeliveriesOfKey(entity: string, key: string, sinceVersion: number): Promise<DeliveryWithLog[]> {
    const rows = this
      .#prepare('SELECT * FROM deliveries WHERE event_id IN (SELECT event_id FROM changes WHERE entity = ? AND key = ? AND version >= ?) AND entity = ? AND key = ? ORDER BY seq')
      .all(entity, key, sinceVersion, entity, key) as DeliveryRowDb[];
    return this.#withLogs(rows);
  }

  #withLogs(rows: readonly DeliveryRowDb[]): DeliveryWithLog[] {
    if (rows.length === 0) return [];
    const attempts = this
      .#prepare('SELECT * FROM delivery_attempts WHERE delivery_id IN (SELECT value FROM json_each(?)) ORDER BY id')
      .all(JSON.stringify(rows.map((r) => r.delivery_id))) as AttemptRowDb[];
    return withLogs(rows, attempts);
  }

  /** Starts a new cycle for one delivery. */
  #restartCycle(now: number) {
    const statement = this.#prepare(`UPDATE deliveries SET ${restartCycle('@now')} WHERE seq = @seq AND ${REPLAYABLE}`);
    return (seq: number) => statement.run({ now, seq });
  }

  async retryDelivery(deliveryId: string, now: number): Promise<boolean> {
    const row = this.#prepare('SELECT seq FROM deliveries WHERE delivery_id = ?').get(deliveryId) as { seq: number } | undefined;
    return row !== undefined && this.#restartCycle(now)(row.seq).changes === 1;
  }

  async countReplayable(integration: string, since: number, until: number): Promise<number> {
    const row = this.#prepare(`SELECT count(*) AS n FROM deliveries WHERE ${inReplayRange('?', '?', '?')}`).get(integration, since, until) as { n: number };
    return row.n;
  }

  async replayDeliveries(integration: string, since: number, until: number, options: { afterSeq: number; limit: number; now: number }): Promise<{ replayed: number; lastSeq: number | null }> {
    return this.#db.transaction(() => {
      const seqs = this
        .#prepare(`SELECT seq FROM deliveries WHERE ${inReplayRange('?', '?', '?')} AND seq > ? ORDER BY seq LIMIT ?`)
        .all(integration, since, until, options.afterSeq, options.limit) as Array<{ seq: number }>;
      const restart = this.#restartCycle(options.now);
      for (const { seq } of seqs) restart(seq);
      return { replayed: seqs.length, lastSeq: seqs.at(-1)?.seq ?? null };
    }).immediate();
  }

  async takeDigestWindow(integration: string, windowMs: number, now: number): Promise<DigestWindow | undefined> {
    const first = this
      .#prepare('SELECT window_start FROM digest_items WHERE integration = ? AND folded = 0 AND window_start + ? <= ? ORDER BY window_start LIMIT 1')
      .get(integration, windowMs, now) as { window_start: number } | undefined;
    if (!first) return undefined;
    const rows = this.#prepare('SELECT * FROM digest_items WHERE integration = ? AND window_start = ? AND folded = 0 ORDER BY id').all(integration, first.window_start) as DigestItemRowDb[];
    return toDigestWindow(integration, rows);
  }

  async commitDigest(window: DigestWindow, delivery: NewDelivery | undefined): Promise<void> {
    const fold = this.#prepare('UPDATE digest_items SET folded = 1 WHERE id = ? AND folded = 0');
    this.#db.transaction(() => {
      let folded = 0;
      for (const item of window.items) folded += fold.run(item.id).changes;
      if (folded !== window.items.length) throw new Error(`digest window ${window.integration}@${window.windowStart} was folded concurrently`);
      if (delivery) this.#insert(delivery);
    }).immediate();
  }
}
