// The sources part of the Store port: checkpoints, the lease that lets one run
// of a source go at a time across processes, run history and rejected items.
import type { RejectedItem, SourcePageCommit, SourcePageOutcome, SourceRow, SourceRun, SourceRunStatus, SourceRunTrigger } from './source-types.js';

export interface SourceStore {
  /** Makes sure every configured source has a row; updates its kind and schedule text. */
  registerSources(sources: ReadonlyArray<{ name: string; kind: string; schedule: string }>, now: number): Promise<void>;
  listSources(): Promise<SourceRow[]>;
  getSource(name: string): Promise<SourceRow | undefined>;
  /** Sets when the source runs next (the scheduler's decision, shared by every process). */
  setSourceNextRun(name: string, nextRunAt: number | null): Promise<void>;

  /**
   * Takes the source's lease when it is free or expired (with `onlyIfDue`, only when its next run
   * is due) and opens a run; runs of dead holders are marked interrupted. Undefined when another
   * holder has it (or it is not due): nothing is written then.
   */
  startSourceRun(
    name: string,
    run: { runId: string; owner: string; trigger: SourceRunTrigger; now: number; leaseMs: number; onlyIfDue: boolean },
  ): Promise<{ checkpoint: SourceRow['checkpoint'] } | undefined>;
  /**
   * One transaction: accepts the page's events (deduplicated by id), keeps its rejected items,
   * moves the checkpoint, counts the page on the run and extends the lease; all only while
   * `owner` still holds the lease. Undefined (nothing written) when it does not.
   */
  commitSourcePage(page: SourcePageCommit): Promise<SourcePageOutcome | undefined>;
  /** Extends the lease while a page is being read. False when `owner` lost it. */
  renewSourceLease(name: string, owner: string, now: number, leaseMs: number): Promise<boolean>;
  /** Closes the run, sets the next run and the failure streak, and frees the lease (if still held). */
  finishSourceRun(
    name: string,
    finish: { runId: string; owner: string; status: Exclude<SourceRunStatus, 'running'>; error: string | null; nextRunAt: number | null; now: number },
  ): Promise<void>;
  getSourceRun(runId: string): Promise<SourceRun | undefined>;
  /** Newest first. */
  listSourceRuns(name: string, limit: number): Promise<SourceRun[]>;
  /** Oldest first, after the cursor `after` (a rejected item's id). */
  listRejected(name: string, query: { after?: number; limit: number }): Promise<RejectedItem[]>;
  /**
   * Forgets the checkpoint: the next run reads from the beginning (event ids still deduplicate).
   * `running` when a run holds the lease (nothing changed), `unknown` for no such source.
   */
  resetSourceCheckpoint(name: string, now: number): Promise<'reset' | 'running' | 'unknown'>;
}
