// The sources part of the PostgreSQL store (the SourceStore port). The
// source's row is locked (`FOR UPDATE`) by every step that reads its lease and
// then writes, so processes on many machines agree on who runs it; a page's
// events, rejects and checkpoint commit together, only for the lease holder.
import type pg from 'pg';
import type { SourceStore } from '../source-store.js';
import type { RejectedItem, SourcePageCommit, SourcePageOutcome, SourceRow, SourceRun } from '../source-types.js';
import type { Json } from '../types.js';
import { jsonRows, storableText, transaction } from './connection.js';
import { insertInbox } from './inbox-insert.js';
import { parseCheckpoint, sourceFailuresAfter, toRejected, toRun, toSource, type RejectedRowDb, type RunRowDb, type SourceRowDb } from '../rows.js';

const REJECTED_ROWS = jsonRows(1, { item_id: 'text', raw: 'text', reason: 'text' });

/** The source's row, locked until the transaction ends. */
async function lockSource(client: pg.ClientBase, name: string): Promise<SourceRowDb | undefined> {
  const { rows } = await client.query<SourceRowDb>('SELECT * FROM sources WHERE name = $1 FOR UPDATE', [name]);
  return rows[0];
}

export class PostgresSources implements SourceStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async registerSources(sources: ReadonlyArray<{ name: string; kind: string; schedule: string }>, now: number): Promise<void> {
    if (sources.length === 0) return;
    await this.#pool.query(
      `INSERT INTO sources (name, kind, schedule, updated_at)
       SELECT name, kind, schedule, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(name, kind, schedule) ORDER BY name
       ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, schedule = excluded.schedule,
         -- A new schedule takes effect now: the scheduler sets the next run from it.
         next_run_at = CASE WHEN sources.schedule = excluded.schedule THEN sources.next_run_at ELSE NULL END`,
      [sources.map((s) => s.name), sources.map((s) => s.kind), sources.map((s) => s.schedule), now],
    );
  }

  async #withLastRuns(rows: SourceRowDb[]): Promise<SourceRow[]> {
    const ids = rows.flatMap((r) => (r.last_run === null ? [] : [r.last_run]));
    const runs =
      ids.length === 0 ? [] : (await this.#pool.query<RunRowDb>('SELECT * FROM source_runs WHERE run_id = ANY($1::text[])', [ids])).rows;
    const byId = new Map(runs.map((r) => [r.run_id, toRun(r)]));
    return rows.map((r) => toSource(r, (r.last_run !== null && byId.get(r.last_run)) || null));
  }

  async listSources(): Promise<SourceRow[]> {
    const { rows } = await this.#pool.query<SourceRowDb>('SELECT * FROM sources ORDER BY name');
    return this.#withLastRuns(rows);
  }

  async getSource(name: string): Promise<SourceRow | undefined> {
    const { rows } = await this.#pool.query<SourceRowDb>('SELECT * FROM sources WHERE name = $1', [name]);
    return (await this.#withLastRuns(rows))[0];
  }

  async setSourceNextRun(name: string, nextRunAt: number | null): Promise<void> {
    await this.#pool.query('UPDATE sources SET next_run_at = $1 WHERE name = $2', [nextRunAt, name]);
  }

  async startSourceRun(
    name: string,
    run: { runId: string; owner: string; trigger: SourceRun['trigger']; now: number; leaseMs: number; onlyIfDue: boolean },
  ): Promise<{ checkpoint: Json | null } | undefined> {
    return transaction(this.#pool, async (client) => {
      const row = await lockSource(client, name);
      if (!row) return undefined;
      if (row.lease_until !== null && row.lease_until >= run.now) return undefined;
      if (run.onlyIfDue && (row.next_run_at === null || row.next_run_at > run.now)) return undefined;
      // Whoever held the lease before us is gone: its run ends here, its last commit stands.
      await client.query(
        `UPDATE source_runs SET status = 'interrupted', finished_at = $1, error = coalesce(error, 'its process stopped or lost the lease before the run ended')
         WHERE source = $2 AND status = 'running'`,
        [run.now, name],
      );
      await client.query(`INSERT INTO source_runs (run_id, source, trigger, status, owner, started_at) VALUES ($1, $2, $3, 'running', $4, $5)`, [
        run.runId,
        name,
        run.trigger,
        run.owner,
        run.now,
      ]);
      await client.query('UPDATE sources SET lease_owner = $1, lease_until = $2, current_run = $3, last_run = $3, updated_at = $4 WHERE name = $5', [
        run.owner,
        run.now + run.leaseMs,
        run.runId,
        run.now,
        name,
      ]);
      return { checkpoint: parseCheckpoint(row.checkpoint) };
    });
  }

  async commitSourcePage(page: SourcePageCommit): Promise<SourcePageOutcome | undefined> {
    return transaction(this.#pool, async (client): Promise<SourcePageOutcome | undefined> => {
      const row = await lockSource(client, page.source);
      const holds = row !== undefined && row.lease_owner === page.owner && row.current_run === page.runId && row.lease_until !== null && row.lease_until >= page.now;
      if (!holds) return undefined;
      const outcomes = await insertInbox(client, page.events);
      const r = page.rejected;
      if (r.length > 0) {
        await client.query(
          `INSERT INTO source_rejected (source, run_id, item_id, raw, reason, at)
           SELECT $2, $3, item_id, raw, reason, $4 FROM ${REJECTED_ROWS} ORDER BY n`,
          [JSON.stringify(r.map((x) => ({ item_id: x.itemId, raw: JSON.stringify(x.raw), reason: storableText(x.reason) }))), page.source, page.runId, page.now],
        );
      }
      const accepted = outcomes.filter((o) => o.status === 'accepted').length;
      await client.query(
        `UPDATE source_runs SET pages = pages + 1, items = items + $1, accepted = accepted + $2, duplicates = duplicates + $3,
           rejected = rejected + $4, skipped = skipped + $5 WHERE run_id = $6`,
        [page.events.length + r.length + page.skipped, accepted, page.events.length - accepted, r.length, page.skipped, page.runId],
      );
      await client.query('UPDATE sources SET checkpoint = $1, checkpoint_at = $2, lease_until = $3, updated_at = $2 WHERE name = $4', [
        JSON.stringify(page.checkpoint),
        page.now,
        page.now + page.leaseMs,
        page.source,
      ]);
      return { outcomes };
    });
  }

  async renewSourceLease(name: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.#pool.query('UPDATE sources SET lease_until = $1 WHERE name = $2 AND lease_owner = $3 AND lease_until >= $4', [now + leaseMs, name, owner, now]);
    return rowCount === 1;
  }

  async finishSourceRun(
    name: string,
    finish: { runId: string; owner: string; status: Exclude<SourceRun['status'], 'running'>; error: string | null; nextRunAt: number | null; now: number },
  ): Promise<void> {
    await transaction(this.#pool, async (client) => {
      const row = await lockSource(client, name);
      await client.query(`UPDATE source_runs SET status = $1, error = $2, finished_at = $3 WHERE run_id = $4 AND status = 'running'`, [
        finish.status,
        storableText(finish.error),
        finish.now,
        finish.runId,
      ]);
      if (!row || row.lease_owner !== finish.owner || row.current_run !== finish.runId) return; // another process took over; the source is its business now
      await client.query(
        `UPDATE sources SET lease_owner = NULL, lease_until = NULL, current_run = NULL, next_run_at = $1,
           consecutive_failures = ${sourceFailuresAfter(finish.status)}, updated_at = $2 WHERE name = $3`,
        [finish.nextRunAt, finish.now, name],
      );
    });
  }

  async getSourceRun(runId: string): Promise<SourceRun | undefined> {
    const { rows } = await this.#pool.query<RunRowDb>('SELECT * FROM source_runs WHERE run_id = $1', [runId]);
    return rows[0] && toRun(rows[0]);
  }

  async listSourceRuns(name: string, limit: number): Promise<SourceRun[]> {
    const { rows } = await this.#pool.query<RunRowDb>('SELECT * FROM source_runs WHERE source = $1 ORDER BY seq DESC LIMIT $2', [name, limit]);
    return rows.map(toRun);
  }

  async listRejected(name: string, query: { after?: number; limit: number }): Promise<RejectedItem[]> {
    const { rows } = await this.#pool.query<RejectedRowDb>(
      'SELECT * FROM source_rejected WHERE source = $1 AND id > $2 ORDER BY id LIMIT $3',
      [name, query.after ?? 0, query.limit],
    );
    return rows.map(toRejected);
  }

  async resetSourceCheckpoint(name: string, now: number): Promise<'reset' | 'running' | 'unknown'> {
    return transaction(this.#pool, async (client) => {
      const row = await lockSource(client, name);
      if (!row) return 'unknown' as const;
      if (row.lease_until !== null && row.lease_until >= now) return 'running' as const;
      await client.query('UPDATE sources SET checkpoint = NULL, checkpoint_at = $1, updated_at = $1 WHERE name = $2', [now, name]);
      return 'reset' as const;
    });
  }
}
