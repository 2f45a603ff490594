// The health part of the SQLite store (the HealthStore port), on the hub's one
// connection. One process writes the file, so its clock (Date.now()) is the
// database's, and every method is one transaction. Leases to free are only
// the sources' (inbox keys are not leased, delivery leases live in the
// memory of the one process: see sqlite-deliveries.ts).
import type Database from 'better-sqlite3';
import { processMonitorName, type HealthStore } from '../health-store.js';
import {
  detailsText,
  interruptedBecause,
  NOTHING_RELEASED,
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
import type { NewDelivery } from '../delivery-types.js';
import { insertDeliveryStatement } from './sqlite-deliveries.js';
import { Statements } from './statements.js';

export class SqliteHealth implements HealthStore {
  readonly #db: Database.Database;
  readonly #sql: Statements;
  readonly #insertDelivery: (d: NewDelivery) => Database.RunResult;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#sql = new Statements(db);
    this.#insertDelivery = insertDeliveryStatement(db);
  }

  #monitorState(name: string): MonitorState | undefined {
    return (this.#sql.get('SELECT state FROM monitors WHERE name = ?').get(name) as { state: MonitorState } | undefined)?.state;
  }

  #ensureProcessMonitor(id: string, now: number): void {
    this.#sql.get(`INSERT INTO monitors (name, kind, state, since, updated_at) VALUES (?, 'process', 'new', ?, ?) ON CONFLICT (name) DO NOTHING`).run(processMonitorName(id), now, now);
  }

  /** Compare-and-set from `r.from` with its transition row and, when announced, its deliveries; call inside a transaction. */
  #writeTransition(r: TransitionRequest, announce: Announcer): MonitorTransition | undefined {
    const moved = this.#sql
      .get(
        `UPDATE monitors SET state = @to, since = @at, updated_at = @at,
           -- A pause or resume may carry no observation: the last one stays.
           observed = coalesce(@observed, observed),
           observed_since = CASE WHEN @observed IS NOT NULL AND observed IS NOT @observed THEN @at ELSE observed_since END,
           last_announced_at = CASE WHEN @announce THEN @at ELSE last_announced_at END
         WHERE name = @monitor AND state = @from`,
      )
      .run({ monitor: r.monitor, from: r.from, to: r.to, at: r.at, observed: r.observed, announce: r.announce ? 1 : 0 });
    if (moved.changes !== 1) return undefined;
    const inserted = this.#sql
      .get('INSERT INTO monitor_transitions (monitor, from_state, to_state, at, message, details, announced) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(r.monitor, r.from, r.to, r.at, r.message, detailsText(r.details), r.announce ? 1 : 0);
    const transition = transitionOf(Number(inserted.lastInsertRowid), r);
    if (r.announce) for (const d of announce(transition, false)) this.#insertDelivery(d);
    return transition;
  }

  /** Frees the sources the process held; their running runs end `interrupted`. */
  #releaseLeases(owner: string, now: number, how: 'down' | 'stopped'): ReleasedLeases {
    this.#sql.get(`UPDATE source_runs SET status = 'interrupted', finished_at = ?, error = ? WHERE owner = ? AND status = 'running'`).run(now, interruptedBecause(how), owner);
    const sources = this.#sql.get('UPDATE sources SET lease_owner = NULL, lease_until = NULL, current_run = NULL, updated_at = ? WHERE lease_owner = ?').run(now, owner);
    return { ...NOTHING_RELEASED, sources: sources.changes };
  }

  async registerProcess(info: ProcessInfo, announce: Announcer): Promise<ProcessRow> {
    const now = Date.now();
    return this.#db.transaction(() => {
      // Started once; a process brought back up after being declared down keeps its start and loops.
      const row = this.#sql
        .get(
          `INSERT INTO processes (id, host, pid, roles, version, state, started_at, last_beat_at, ended_at, loops)
           VALUES (@id, @host, @pid, @roles, @version, 'up', @now, @now, NULL, '[]')
           ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, roles = excluded.roles, version = excluded.version,
             state = 'up', last_beat_at = excluded.last_beat_at, ended_at = NULL
           RETURNING *`,
        )
        .get({ id: info.id, host: info.host, pid: info.pid, roles: JSON.stringify(info.roles), version: info.version, now }) as ProcessRowDb;
      const process = toProcess(row);
      this.#ensureProcessMonitor(info.id, now);
      const up = processUp(process, this.#monitorState(processMonitorName(info.id))!);
      if (up) this.#writeTransition(up, announce);
      return process;
    }).immediate();
  }

  async beat(id: string, loops: readonly LoopHealth[]): Promise<{ now: number; fenced: boolean }> {
    const now = Date.now();
    return this.#db.transaction(() => {
      const beat = this.#sql.get(`UPDATE processes SET last_beat_at = ?, loops = ? WHERE id = ? AND state = 'up'`).run(now, JSON.stringify(loops), id);
      if (beat.changes === 0) return { now, fenced: true };
      this.#sql.get('UPDATE monitors SET last_check_at = ? WHERE name = ?').run(now, processMonitorName(id));
      return { now, fenced: false };
    }).immediate();
  }

  async stopProcess(id: string): Promise<ReleasedLeases> {
    const now = Date.now();
    return this.#db.transaction(() => {
      const row = this.#sql.get(`UPDATE processes SET state = 'stopped', ended_at = ? WHERE id = ? AND state = 'up' RETURNING *`).get(now, id) as ProcessRowDb | undefined;
      // Released even when it was declared down meanwhile: it may have taken leases since.
      const released = this.#releaseLeases(id, now, 'stopped');
      if (row) {
        const paused = processStopped(toProcess(row), this.#monitorState(processMonitorName(id)) ?? 'paused');
        if (paused) this.#writeTransition(paused, () => []);
      }
      return released;
    }).immediate();
  }

  async reapSilent(silentMs: number, announce: Announcer): Promise<Array<{ process: ProcessRow; released: ReleasedLeases }>> {
    const now = Date.now();
    return this.#db.transaction(() => {
      const rows = this.#sql
        .get(`UPDATE processes SET state = 'down', ended_at = ? WHERE state = 'up' AND last_beat_at < ? RETURNING *`)
        .all(now, now - silentMs) as ProcessRowDb[];
      return rows
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((row) => {
          const process = toProcess(row);
          const released = this.#releaseLeases(process.id, now, 'down');
          this.#ensureProcessMonitor(process.id, now);
          this.#writeTransition(processDown(process), announce);
          return { process, released };
        });
    }).immediate();
  }

  async listProcesses(endedAfter: number): Promise<{ now: number; processes: ProcessRow[] }> {
    const rows = this.#sql.get('SELECT * FROM processes WHERE ended_at IS NULL OR ended_at >= ? ORDER BY started_at DESC, id').all(endedAfter) as ProcessRowDb[];
    return { now: Date.now(), processes: rows.map(toProcess) };
  }

  async pruneProcesses(endedBefore: number): Promise<number> {
    return this.#db.transaction(() => {
      const rows = this.#sql.get('DELETE FROM processes WHERE ended_at < ? RETURNING id').all(endedBefore) as Array<{ id: string }>;
      for (const { id } of rows) {
        this.#sql.get('DELETE FROM monitor_transitions WHERE monitor = ?').run(processMonitorName(id));
        this.#sql.get('DELETE FROM monitors WHERE name = ?').run(processMonitorName(id));
      }
      return rows.length;
    }).immediate();
  }

  async registerMonitors(monitors: ReadonlyArray<{ name: string; kind: MonitorKind }>, now: number): Promise<void> {
    const upsert = this.#sql.get(`INSERT INTO monitors (name, kind, state, since, updated_at) VALUES (?, ?, 'new', ?, ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind`);
    this.#db.transaction(() => {
      for (const m of monitors) upsert.run(m.name, m.kind, now, now);
    }).immediate();
  }

  async listMonitors(): Promise<MonitorRow[]> {
    return (this.#sql.get('SELECT * FROM monitors ORDER BY name').all() as MonitorRowDb[]).map(toMonitor);
  }

  async getMonitor(name: string): Promise<MonitorRow | undefined> {
    const row = this.#sql.get('SELECT * FROM monitors WHERE name = ?').get(name) as MonitorRowDb | undefined;
    return row && toMonitor(row);
  }

  async claimCheck(name: string, now: number, intervalMs: number): Promise<boolean> {
    const claimed = this.#sql
      .get(`UPDATE monitors SET next_check_at = ? WHERE name = ? AND state <> 'paused' AND (next_check_at IS NULL OR next_check_at <= ?)`)
      .run(now + intervalMs, name, now);
    return claimed.changes === 1;
  }

  async observe(o: Observation): Promise<MonitorRow | undefined> {
    const row = this.#sql
      .get(
        `UPDATE monitors SET observed_since = CASE WHEN observed IS NOT @observed THEN @at ELSE observed_since END, observed = @observed,
           last_check_at = @at, last_message = @message, last_details = @details, updated_at = @at
         WHERE name = @monitor RETURNING *`,
      )
      .get({ monitor: o.monitor, observed: o.observed, at: o.at, message: o.message, details: detailsText(o.details) }) as MonitorRowDb | undefined;
    return row && toMonitor(row);
  }

  async transition(request: TransitionRequest, announce: Announcer): Promise<MonitorTransition | undefined> {
    return this.#db.transaction(() => this.#writeTransition(request, announce)).immediate();
  }

  async remind(name: string, state: MonitorState, now: number, everyMs: number, announce: Announcer): Promise<boolean> {
    return this.#db.transaction(() => {
      // Never announced: the reminder counts from when the state began.
      const due = this.#sql
        .get('UPDATE monitors SET last_announced_at = ? WHERE name = ? AND state = ? AND coalesce(last_announced_at, since) <= ?')
        .run(now, name, state, now - everyMs);
      if (due.changes !== 1) return false;
      const latest = this.#sql.get('SELECT * FROM monitor_transitions WHERE monitor = ? ORDER BY id DESC LIMIT 1').get(name) as TransitionRowDb | undefined;
      if (latest) for (const d of announce(toTransition(latest), true)) this.#insertDelivery(d);
      return true;
    }).immediate();
  }

  async countTransitions(name: string, since: number): Promise<number> {
    return (this.#sql.get(`SELECT count(*) AS n FROM monitor_transitions WHERE monitor = ? AND at >= ? AND ${COUNTS_TOWARD_FLAPPING}`).get(name, since) as { n: number }).n;
  }

  async listTransitions(name: string, query: { before?: number; limit: number }): Promise<MonitorTransition[]> {
    const rows = this.#sql
      .get('SELECT * FROM monitor_transitions WHERE monitor = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?')
      .all(name, query.before ?? null, query.before ?? null, query.limit) as TransitionRowDb[];
    return rows.map(toTransition);
  }
}
