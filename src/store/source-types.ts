// The rows the store keeps for scheduled sources: each source's checkpoint and
// lease, its runs, and the items it could not turn into events.
import type { AcceptOutcome, Json, NewInboxEvent } from './types.js';

export type SourceRunTrigger = 'schedule' | 'start' | 'manual';
/** `interrupted`: its process died or lost the lease; the next run goes on from the last committed page. */
export type SourceRunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';

export interface SourceRun {
  runId: string;
  source: string;
  trigger: SourceRunTrigger;
  status: SourceRunStatus;
  owner: string;
  startedAt: number;
  finishedAt: number | null;
  /** Pages committed. */
  pages: number;
  /** Items read (accepted + duplicates + rejected + skipped). */
  items: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Items the mapping chose not to turn into events. */
  skipped: number;
  error: string | null;
}

export interface SourceRow {
  name: string;
  kind: string;
  /** How it is scheduled, as configured (e.g. `every 30s`, or a cron pattern with its time zone). */
  schedule: string;
  checkpoint: Json | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  nextRunAt: number | null;
  /** Failed runs in a row; the back-off grows with it. */
  consecutiveFailures: number;
  checkpointAt: number | null;
  lastRun: SourceRun | null;
}

export interface RejectedItem {
  id: number;
  source: string;
  runId: string;
  /** The item's own id, when it had one. */
  itemId: string | null;
  /** The item as read. */
  raw: Json;
  reason: string;
  at: number;
}

/** One page of a run: its events, its rejects and the checkpoint after it, committed together. */
export interface SourcePageCommit {
  source: string;
  owner: string;
  runId: string;
  events: NewInboxEvent[];
  rejected: Array<Omit<RejectedItem, 'id' | 'source' | 'runId' | 'at'>>;
  skipped: number;
  checkpoint: Json;
  now: number;
  /** The lease is extended to `now + leaseMs`. */
  leaseMs: number;
}

export interface SourcePageOutcome {
  outcomes: AcceptOutcome[];
}
