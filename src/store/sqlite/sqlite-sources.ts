// The sources part of the SQLite store (the SourceStore port), on the hub's one
// connection. A page's events, its rejects and the checkpoint after it are one
// transaction, guarded by the lease: a run that lost its lease writes nothing.
import type Database from 'better-sqlite3';
import type { SourceStore } from '../source-store.js';
import type { RejectedItem, SourcePageCommit, SourcePageOutcome, SourceRow, SourceRun } from '../source-types.js';
import type { AcceptOutcome, Json } from '../types.js';
import { parseCheckpoint, sourceFailuresAfter, toRejected, toRun, toSource, type RejectedRowDb, type RunRowDb, type SourceRowDb } from '../rows.js';
import { routedKeys } from './routed-key.js';
import { Statements } from './statements.js';

/** Runs `write` in a transaction that is fsync'd before it returns: it acknowledges events. */
export type DurableWrite = <T>(write: () => T) => T;

export class SqliteSources implements SourceStore {
  readonly #db: Database.Database;
  readonly #sql: Statements;
  readonly #durably: DurableWrite;
  readonly #keyOf: ReturnType<typeof routedKeys>;

  constructor(db: Database.Database, durably: DurableWrite) {
    this.#db = db;
    this.#sql = new Statements(db);
    this.#durably = durably;
    this.#keyOf = routedKeys(db);
  }

  #run(runId: string | null): SourceRun | null {
    if (runId === null) return null;
    const row = this.#sql.get('SELECT * FROM source_runs WHERE run_id = ?').get(runId) as RunRowDb | undefined;
    return row ? toRun(row) : null;
  }

  #toSource(r: SourceRowDb): SourceRow {
    return toSource(r, this.#run(r.last_run));
  }

  async registerSources(sources: ReadonlyArray<{ name: string; kind: string; schedule: string }>, now: number): Promise<void> {
    const upsert = this.#sql.get(
      `INSERT INTO sources (name, kind, schedule, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, schedule = excluded.schedule,
         -- A new schedule takes effect now: the scheduler sets the next run from it.
         next_run_at = CASE WHEN sources.schedule = excluded.schedule THEN sources.next_run_at ELSE NULL END`,
    );
    this.#db.transaction(() => {
      for (const s of sources) upsert.run(s.name, s.kind, s.schedule, now);
    }).immediate();
  }

  async listSources(): Promise<SourceRow[]> {
    return (this.#sql.get('SELECT * FROM sources ORDER BY name').all() as SourceRowDb[]).map((r) => this.#toSource(r));
  }

  async getSource(name: string): Promise<SourceRow | undefined> {
    const row = this.#sql.get('SELECT * FROM sources WHERE name = ?').get(name) as SourceRowDb | undefined;
    return row && this.#toSource(row);
  }

  async setSourceNextRun(name: string, nextRunAt: number | null): Promise<void> {
    this.#sql.get('UPDATE sources SET next_run_at = ? WHERE name = ?').run(nextRunAt, name);
  }

  async startSourceRun(
    name: string,
    run: { runId: string; owner: string; trigger: SourceRun['trigger']; now: number; leaseMs: number; onlyIfDue: boolean },
  ): Promise<{ checkpoint: Json | null } | undefined> {
    return this.#db.transaction(() => {
      const row = this.#sql.get('SELECT * FROM sources WHERE name = ?').get(name) as SourceRowDb | undefined;
      if (!row) return undefined;
      if (row.lease_until !== null && row.lease_until >= run.now) return undefined;
      if (run.onlyIfDue && (row.next_run_at === null || row.next_run_at > run.now)) return undefined;
      // Whoever held the lease before us is gone: its run ends here, its last commit stands.
      this.#sql
        .get(`UPDATE source_runs SET status = 'interrupted', finished_at = ?, error = coalesce(error, 'its process stopped or lost the lease before the run ended') WHERE source = ? AND status = 'running'`)
        .run(run.now, name);
      this.#sql
        .get('INSERT INTO source_runs (run_id, source, trigger, status, owner, started_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(run.runId, name, run.trigger, 'running', run.owner, run.now);
      this.#sql
        .get('UPDATE sources SET lease_owner = ?, lease_until = ?, current_run = ?, last_run = ?, updated_at = ? WHERE name = ?')
        .run(run.owner, run.now + run.leaseMs, run.runId, run.runId, run.now, name);
      return { checkpoint: parseCheckpoint(row.checkpoint) };
    }).immediate();
  }

  #holds(name: string, owner: string, runId: string, now: number): boolean {
    const row = this.#sql.get('SELECT lease_owner, lease_until, current_run FROM sources WHERE name = ?').get(name) as
      | Pick<SourceRowDb, 'lease_owner' | 'lease_until' | 'current_run'>
      | undefined;
    return row !== undefined && row.lease_owner === owner && row.current_run === runId && row.lease_until !== null && row.lease_until >= now;
  }

  async commitSourcePage(page: SourcePageCommit): Promise<SourcePageOutcome | undefined> {
    const insertEvent = this.#sql.get(
      `INSERT INTO inbox (event_id, name, version, flow_id, entity, key, envelope, accepted_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
    );
    const insertRejected = this.#sql.get('INSERT INTO source_rejected (source, run_id, item_id, raw, reason, at) VALUES (?, ?, ?, ?, ?, ?)');
    return this.#durably(() =>
      this.#db.transaction((): SourcePageOutcome | undefined => {
        if (!this.#holds(page.source, page.owner, page.runId, page.now)) return undefined;
        const outcomes = page.events.map((e): AcceptOutcome => {
          const info = insertEvent.run(e.eventId, e.name, e.version, e.flowId, e.entity, this.#keyOf(e), JSON.stringify(e.envelope), e.acceptedAt);
          return info.changes === 1 ? { status: 'accepted', seq: Number(info.lastInsertRowid) } : { status: 'duplicate' };
        });
        for (const r of page.rejected) insertRejected.run(page.source, page.runId, r.itemId, JSON.stringify(r.raw), r.reason, page.now);
        const accepted = outcomes.filter((o) => o.status === 'accepted').length;
        this.#sql
          .get(
            `UPDATE source_runs SET pages = pages + 1, items = items + ?, accepted = accepted + ?, duplicates = duplicates + ?,
               rejected = rejected + ?, skipped = skipped + ? WHERE run_id = ?`,
          )
          .run(page.events.length + page.rejected.length + page.skipped, accepted, page.events.length - accepted, page.rejected.length, page.skipped, page.runId);
        this.#sql
          .get('UPDATE sources SET checkpoint = ?, checkpoint_at = ?, lease_until = ?, updated_at = ? WHERE name = ?')
          .run(JSON.stringify(page.checkpoint), page.now, page.now + page.leaseMs, page.now, page.source);
        return { outcomes };
      }).immediate(),
    );
  }

  async renewSourceLease(name: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const info = this.#sql
      .get('UPDATE sources SET lease_until = ? WHERE name = ? AND lease_owner = ? AND lease_until >= ?')
      .run(now + leaseMs, name, owner, now);
    return info.changes === 1;
  }

  async finishSourceRun(
    name: string,
    finish: { runId: string; owner: string; status: Exclude<SourceRun['status'], 'running'>; error: string | null; nextRunAt: number | null; now: number },
  ): Promise<void> {
    this.#db.transaction(() => {
      this.#sql
        .get(`UPDATE source_runs SET status = ?, error = ?, finished_at = ? WHERE run_id = ? AND status = 'running'`)
        .run(finish.status, finish.error, finish.now, finish.runId);
      const held = this.#sql.get('SELECT 1 FROM sources WHERE name = ? AND lease_owner = ? AND current_run = ?').get(name, finish.owner, finish.runId);
      if (!held) return; // another process took over; the source is its business now
      this.#sql
        .get(
          `UPDATE sources SET lease_owner = NULL, lease_until = NULL, current_run = NULL, next_run_at = ?,
             consecutive_failures = ${sourceFailuresAfter(finish.status)}, updated_at = ? WHERE name = ?`,
        )
        .run(finish.nextRunAt, finish.now, name);
    }).immediate();
  }

  async getSourceRun(runId: string): Promise<SourceRun | undefined> {
    return this.#run(runId) ?? undefined;
  }

  async listSourceRuns(name: string, limit: number): Promise<SourceRun[]> {
    return (this.#sql.get('SELECT * FROM source_runs WHERE source = ? ORDER BY seq DESC LIMIT ?').all(name, limit) as RunRowDb[]).map(toRun);
  }

  async listRejected(name: string, query: { after?: number; limit: number }): Promise<RejectedItem[]> {
    const rows = this.#sql.get('SELECT * FROM source_rejected WHERE source = ? AND id > ? ORDER BY id LIMIT ?').all(name, query.after ?? 0, query.limit) as RejectedRowDb[];
    return rows.map(toRejected);
  }

  async resetSourceCheckpoint(name: string, now: number): Promise<'reset' | 'running' | 'unknown'> {
    return this.#db.transaction(() => {
      const row = this.#sql.get('SELECT lease_until FROM sources WHERE name = ?').get(name) as { lease_until: number | null } | undefined;
      if (!row) return 'unknown' as const;
      if (row.lease_until !== null && row.lease_until >= now) return 'running' as const;
      this.#sql.get('UPDATE sources SET checkpoint = NULL, checkpoint_at = ?, updated_at = ? WHERE name = ?').run(now, now, name);
      return 'reset' as const;
    }).immediate();
  }
}
