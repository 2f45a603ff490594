// The health part of the PostgreSQL store (the HealthStore port). Processes
// live by the database's clock (NOW_MS), so no host's clock decides who is
// dead. Every change of state is one conditional UPDATE: among processes doing
// the same at once, the row lock lets one change it and the others find the
// condition false, so each transition and its deliveries are written once.
import type pg from 'pg';
import { processMonitorName, type HealthStore } from '../health-store.js';
import {
  detailsText,
  interruptedBecause,
  processDown,
  processStopped,
  processUp,
  toMonitor,
  toProcess,
  toTransition,
  transitionOf,
  type MonitorRowDb,
  type ProcessRowDb,
  type TransitionRowDb, COUNTS_TOWARD_FLAPPING } from '../health-rows.js';
import type { Announcer, LoopHealth, MonitorKind, MonitorRow, MonitorState, MonitorTransition, Observation, ProcessInfo, ProcessRow, ReleasedLeases, TransitionRequest } from '../health-types.js';
import { CHANNELS, NOW_MS, sessionName, storableText, transaction } from './connection.js';
import { insertDeliveries } from './postgres-deliveries.js';

/** The database's clock read once, so every column a statement stamps gets the same instant. */
const CLOCK = `clock AS MATERIALIZED (SELECT ${NOW_MS} AS now)`;

/** The monitor's state, its row locked until the transaction ends. */
async function lockMonitorState(client: pg.ClientBase, name: string): Promise<MonitorState | undefined> {
  const { rows } = await client.query<{ state: MonitorState }>('SELECT state FROM monitors WHERE name = $1 FOR UPDATE', [name]);
  return rows[0]?.state;
}

/** Creates a process's monitor (`new`) if it has none yet. */
async function ensureProcessMonitor(client: pg.ClientBase, id: string, now: number): Promise<void> {
  await client.query(`INSERT INTO monitors (name, kind, state, since, updated_at) VALUES ($1, 'process', 'new', $2, $2) ON CONFLICT (name) DO NOTHING`, [
    processMonitorName(id),
    now,
  ]);
}

/**
 * Compare-and-set of the monitor's state from `r.from`, with the transition row and, when
 * announced, its deliveries. Undefined (nothing written) when the monitor was not in `r.from`:
 * a concurrent writer's UPDATE holds the row until it commits, then ours finds the state moved.
 */
async function writeTransition(client: pg.ClientBase, r: TransitionRequest, announce: Announcer): Promise<MonitorTransition | undefined> {
  const moved = await client.query(
    `UPDATE monitors SET state = $3, since = $4, updated_at = $4,
       -- A pause or resume may carry no observation: the last one stays.
       observed = coalesce($5::text, observed),
       observed_since = CASE WHEN $5::text IS NOT NULL AND observed IS DISTINCT FROM $5::text THEN $4 ELSE observed_since END,
       last_announced_at = CASE WHEN $6::boolean THEN $4 ELSE last_announced_at END
     WHERE name = $1 AND state = $2`,
    [r.monitor, r.from, r.to, r.at, r.observed, r.announce],
  );
  if (moved.rowCount !== 1) return undefined;
  const { rows } = await client.query<{ id: number }>(
    `INSERT INTO monitor_transitions (monitor, from_state, to_state, at, message, details, announced) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
    [r.monitor, r.from, r.to, r.at, storableText(r.message), detailsText(r.details), r.announce],
  );
  const transition = transitionOf(rows[0]!.id, r);
  if (r.announce) await insertDeliveries(client, announce(transition, false));
  return transition;
}

/**
 * Frees what the process held, so live processes take it over at once: its inbox keys (lease rows
 * deleted: a commit of the batch it still holds is refused, see InboxClaims.commitBatch), its
 * pending deliveries (claimable again, lease columns NULL) and its sources, whose running runs end
 * `interrupted`. Wakes the other processes' loops when something was freed.
 */
async function releaseLeases(client: pg.ClientBase, owner: string, now: number, how: 'down' | 'stopped'): Promise<ReleasedLeases> {
  if (how === 'down') await endSessions(client, owner);
  const keys = await client.query('DELETE FROM inbox_leases WHERE owner = $1', [owner]);
  // status = 'pending' lets the planner read the pending partial indexes instead of every delivery;
  // a settled delivery's lease was cleared when it settled.
  const deliveries = await client.query(`UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE status = 'pending' AND lease_owner = $1`, [owner]);
  await client.query(`UPDATE source_runs SET status = 'interrupted', finished_at = $2, error = $3 WHERE owner = $1 AND status = 'running'`, [
    owner,
    now,
    interruptedBecause(how),
  ]);
  const sources = await client.query('UPDATE sources SET lease_owner = NULL, lease_until = NULL, current_run = NULL, updated_at = $2 WHERE lease_owner = $1', [owner, now]);
  const released = { keys: keys.rowCount ?? 0, deliveries: deliveries.rowCount ?? 0, sources: sources.rowCount ?? 0 };
  if (released.keys > 0) await client.query('SELECT pg_notify($1, $2)', [CHANNELS.inbox, '']);
  if (released.deliveries > 0) await client.query('SELECT pg_notify($1, $2)', [CHANNELS.deliveries, '']);
  return released;
}

/**
 * Ends the sessions of a process declared down. One that was paused (a stopped VM, SIGSTOP) keeps
 * its connections, and a transaction it left open keeps its row locks: the lease deletes would wait
 * for it, and the declaration with them, until it woke. Ended, its transactions roll back and their
 * locks go; woken, it finds those connections closed and its leases gone. Idle sessions hold no
 * locks and are left alone (a process declared down only because it was slow keeps its pool).
 * Only sessions of this role and database are asked to end, which needs no privilege beyond it.
 */
async function endSessions(client: pg.ClientBase, owner: string): Promise<void> {
  await client.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE application_name = $1 AND datname = current_database() AND usename = current_user AND state <> 'idle' AND pid <> pg_backend_pid()`,
    [sessionName(owner)],
  );
}

export class PostgresHealth implements HealthStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async registerProcess(info: ProcessInfo, announce: Announcer): Promise<ProcessRow> {
    return transaction(this.#pool, async (client) => {
      // Started once; a process brought back up after being declared down keeps its start and loops.
      const { rows } = await client.query<ProcessRowDb>(
        `WITH ${CLOCK}
         INSERT INTO processes (id, host, pid, roles, version, state, started_at, last_beat_at, ended_at, loops)
         SELECT $1, $2, $3, $4, $5, 'up', now, now, NULL, '[]' FROM clock
         ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, roles = excluded.roles, version = excluded.version,
           state = 'up', last_beat_at = excluded.last_beat_at, ended_at = NULL
         RETURNING *`,
        [info.id, info.host, info.pid, JSON.stringify(info.roles), info.version],
      );
      const process = toProcess(rows[0]!);
      await ensureProcessMonitor(client, info.id, process.lastBeatAt);
      const from = await lockMonitorState(client, processMonitorName(info.id));
      const up = from === undefined ? undefined : processUp(process, from);
      if (up) await writeTransition(client, up, announce);
      return process;
    });
  }

  /**
   * One statement, outside any transaction: a process paused between a beat's statements would
   * keep its row locked, and the reapers, which skip locked rows, would never declare it down.
   */
  async beat(id: string, loops: readonly LoopHealth[]): Promise<{ now: number; fenced: boolean }> {
    const { rows } = await this.#pool.query<{ now: number; beat: boolean }>(
      `WITH ${CLOCK},
       beat AS (UPDATE processes SET last_beat_at = clock.now, loops = $2 FROM clock WHERE id = $1 AND state = 'up' RETURNING id),
       checked AS (UPDATE monitors SET last_check_at = clock.now FROM clock, beat WHERE monitors.name = $3)
       SELECT now, EXISTS (SELECT 1 FROM beat) AS beat FROM clock`,
      [id, JSON.stringify(loops), processMonitorName(id)],
    );
    const { now, beat } = rows[0]!;
    return { now, fenced: !beat };
  }

  async stopProcess(id: string): Promise<ReleasedLeases> {
    return transaction(this.#pool, async (client) => {
      const { rows } = await client.query<ProcessRowDb>(
        `WITH ${CLOCK} UPDATE processes SET state = 'stopped', ended_at = clock.now FROM clock WHERE id = $1 AND state = 'up' RETURNING processes.*`,
        [id],
      );
      // Released even when it was declared down meanwhile: it may have taken leases since.
      const now = rows[0]?.ended_at ?? (await client.query<{ now: number }>(`SELECT ${NOW_MS} AS now`)).rows[0]!.now;
      const released = await releaseLeases(client, id, now, 'stopped');
      if (rows[0]) {
        const process = toProcess(rows[0]);
        const from = await lockMonitorState(client, processMonitorName(id));
        const paused = from === undefined ? undefined : processStopped(process, from);
        if (paused) await writeTransition(client, paused, () => []);
      }
      return released;
    });
  }

  async reapSilent(silentMs: number, announce: Announcer): Promise<Array<{ process: ProcessRow; released: ReleasedLeases }>> {
    return transaction(this.#pool, async (client) => {
      // One statement claims them: a row another reaper (or a late beat) holds is skipped, and
      // whoever holds it decides; a row already down no longer matches. Each dead process is
      // returned by exactly one caller.
      const { rows } = await client.query<ProcessRowDb>(
        `WITH ${CLOCK},
         silent AS (SELECT id FROM processes, clock WHERE state = 'up' AND last_beat_at < clock.now - $1::bigint ORDER BY id FOR UPDATE OF processes SKIP LOCKED)
         UPDATE processes p SET state = 'down', ended_at = clock.now FROM silent, clock WHERE p.id = silent.id
         RETURNING p.*`,
        [silentMs],
      );
      const reaped: Array<{ process: ProcessRow; released: ReleasedLeases }> = [];
      for (const row of rows.sort((a, b) => a.id.localeCompare(b.id))) {
        const process = toProcess(row);
        const released = await releaseLeases(client, process.id, process.endedAt!, 'down');
        await ensureProcessMonitor(client, process.id, process.endedAt!);
        await writeTransition(client, processDown(process), announce);
        reaped.push({ process, released });
      }
      return reaped;
    });
  }

  async listProcesses(endedAfter: number): Promise<{ now: number; processes: ProcessRow[] }> {
    const [clock, processes] = await Promise.all([
      this.#pool.query<{ now: number }>(`SELECT ${NOW_MS} AS now`),
      this.#pool.query<ProcessRowDb>('SELECT * FROM processes WHERE ended_at IS NULL OR ended_at >= $1 ORDER BY started_at DESC, id', [endedAfter]),
    ]);
    return { now: clock.rows[0]!.now, processes: processes.rows.map(toProcess) };
  }

  async pruneProcesses(endedBefore: number): Promise<number> {
    return transaction(this.#pool, async (client) => {
      const { rows } = await client.query<{ id: string }>('DELETE FROM processes WHERE ended_at < $1 RETURNING id', [endedBefore]);
      const monitors = rows.map((r) => processMonitorName(r.id));
      if (monitors.length > 0) {
        await client.query('DELETE FROM monitor_transitions WHERE monitor = ANY($1::text[])', [monitors]);
        await client.query('DELETE FROM monitors WHERE name = ANY($1::text[])', [monitors]);
      }
      return rows.length;
    });
  }

  async registerMonitors(monitors: ReadonlyArray<{ name: string; kind: MonitorKind }>, now: number): Promise<void> {
    if (monitors.length === 0) return;
    await this.#pool.query(
      `INSERT INTO monitors (name, kind, state, since, updated_at)
       SELECT name, kind, 'new', $3, $3 FROM unnest($1::text[], $2::text[]) AS u(name, kind) ORDER BY name
       ON CONFLICT (name) DO UPDATE SET kind = excluded.kind`,
      [monitors.map((m) => m.name), monitors.map((m) => m.kind), now],
    );
  }

  async listMonitors(): Promise<MonitorRow[]> {
    const { rows } = await this.#pool.query<MonitorRowDb>('SELECT * FROM monitors ORDER BY name');
    return rows.map(toMonitor);
  }

  async getMonitor(name: string): Promise<MonitorRow | undefined> {
    const { rows } = await this.#pool.query<MonitorRowDb>('SELECT * FROM monitors WHERE name = $1', [name]);
    return rows[0] && toMonitor(rows[0]);
  }

  async claimCheck(name: string, now: number, intervalMs: number): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `UPDATE monitors SET next_check_at = $2::bigint + $3::bigint WHERE name = $1 AND state <> 'paused' AND (next_check_at IS NULL OR next_check_at <= $2)`,
      [name, now, intervalMs],
    );
    return rowCount === 1;
  }

  async observe(o: Observation): Promise<MonitorRow | undefined> {
    const { rows } = await this.#pool.query<MonitorRowDb>(
      `UPDATE monitors SET observed_since = CASE WHEN observed IS DISTINCT FROM $2::text THEN $3 ELSE observed_since END, observed = $2,
         last_check_at = $3, last_message = $4, last_details = $5, updated_at = $3
       WHERE name = $1 RETURNING *`,
      [o.monitor, o.observed, o.at, storableText(o.message), detailsText(o.details)],
    );
    return rows[0] && toMonitor(rows[0]);
  }

  async transition(request: TransitionRequest, announce: Announcer): Promise<MonitorTransition | undefined> {
    return transaction(this.#pool, (client) => writeTransition(client, request, announce));
  }

  async remind(name: string, state: MonitorState, now: number, everyMs: number, announce: Announcer): Promise<boolean> {
    return transaction(this.#pool, async (client) => {
      // Never announced: the reminder counts from when the state began.
      const { rowCount } = await client.query(
        `UPDATE monitors SET last_announced_at = $3 WHERE name = $1 AND state = $2 AND coalesce(last_announced_at, since) <= $3::bigint - $4::bigint`,
        [name, state, now, everyMs],
      );
      if (rowCount !== 1) return false;
      const { rows } = await client.query<TransitionRowDb>('SELECT * FROM monitor_transitions WHERE monitor = $1 ORDER BY id DESC LIMIT 1', [name]);
      if (rows[0]) await insertDeliveries(client, announce(toTransition(rows[0]), true));
      return true;
    });
  }

  async countTransitions(name: string, since: number): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM monitor_transitions WHERE monitor = $1 AND at >= $2 AND ${COUNTS_TOWARD_FLAPPING}`, [name, since]);
    return rows[0]!.n;
  }

  async listTransitions(name: string, query: { before?: number; limit: number }): Promise<MonitorTransition[]> {
    const { rows } = await this.#pool.query<TransitionRowDb>(
      'SELECT * FROM monitor_transitions WHERE monitor = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3',
      [name, query.before ?? null, query.limit],
    );
    return rows.map(toTransition);
  }
}
