// The rows both SQL drivers keep, as their clients return them (snake_case
// columns, JSON in text, epoch-ms integers), and the plain shapes of the port
// they become. SQLite and PostgreSQL share one schema shape, so one mapping.
import { decodeOptional } from './json-columns.js';
import type { ApiKey, NewApiKey, NewOperatorAction, OperatorAction, Scope } from './access-store.js';
import type { RejectedItem, SourceRow, SourceRun } from './source-types.js';
import type { AuditEntry, EventOrigin, EventStatus, EventTrace, FieldDiff, FlowEvent, IdentifierLink, InboxEvent, Json, StoredRecord } from './types.js';

export interface InboxRow {
  seq: number;
  event_id: string;
  name: string;
  version: number;
  flow_id: string;
  entity: string;
  key: string;
  envelope: string;
  status: EventStatus;
  accepted_at: number;
  processed_at: number | null;
  result: string | null;
  error: string | null;
}

export interface RecordRow {
  entity: string;
  key: string;
  version: number;
  parts: string;
  created_at: number;
  updated_at: number;
}

export interface LinkRow {
  entity: string;
  identifier: string;
  value: string;
  key: string;
  event_id: string;
  linked_at: number;
}

export const toLink = (r: LinkRow): IdentifierLink => ({ entity: r.entity, identifier: r.identifier, value: r.value, key: r.key, eventId: r.event_id, linkedAt: r.linked_at });

export interface AuditRow {
  id: number;
  entity: string;
  key: string;
  version: number;
  part: string;
  field: string;
  old_value: string | null;
  new_value: string | null;
  rule: string;
  event_id: string;
  flow_id: string;
  at: number;
}

export const toRecord = (row: RecordRow): StoredRecord => ({
  entity: row.entity,
  key: row.key,
  version: row.version,
  parts: JSON.parse(row.parts) as StoredRecord['parts'],
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toInboxEvent = (row: InboxRow): InboxEvent => ({
  seq: row.seq,
  eventId: row.event_id,
  name: row.name,
  version: row.version,
  flowId: row.flow_id,
  entity: row.entity,
  key: row.key,
  envelope: JSON.parse(row.envelope) as Record<string, unknown>,
  status: row.status,
  acceptedAt: row.accepted_at,
});

export const toAudit = (row: AuditRow): AuditEntry => ({
  id: row.id,
  entity: row.entity,
  key: row.key,
  version: row.version,
  part: row.part,
  field: row.field,
  oldValue: decodeOptional(row.old_value),
  newValue: decodeOptional(row.new_value),
  rule: row.rule,
  eventId: row.event_id,
  flowId: row.flow_id,
  at: row.at,
});

/** The columns of a change an event trace shows. */
export interface ChangeTraceRow {
  version: number;
  rule: string;
  changed_parts: string;
  diffs: string;
  at: number;
}

/** The columns of a delivery an event trace shows. */
export interface DeliveryTraceRow {
  delivery_id: string;
  integration: string;
  status: EventTrace['deliveries'][number]['status'];
  attempts: number;
  total_attempts: number;
  last_error: string | null;
  last_status: number | null;
  created_at: number;
  completed_at: number | null;
}

/** An event's inbox row and the changes it made, in order: what an event trace and a flow trace share. */
const eventWithChanges = (row: InboxRow, changes: readonly ChangeTraceRow[]): Omit<EventTrace, 'deliveries'> => ({
  eventId: row.event_id,
  name: row.name,
  version: row.version,
  flowId: row.flow_id,
  entity: row.entity,
  key: row.key,
  status: row.status,
  acceptedAt: row.accepted_at,
  processedAt: row.processed_at,
  result: row.result === null ? null : (JSON.parse(row.result) as EventTrace['result']),
  error: row.error === null ? null : (JSON.parse(row.error) as EventTrace['error']),
  changes: changes.map((c) => ({ version: c.version, rule: c.rule, changedParts: JSON.parse(c.changed_parts) as string[], diffs: JSON.parse(c.diffs) as FieldDiff[], at: c.at })),
});

/** What one event did: its inbox row, the changes it made and the deliveries they caused, each in order. */
export const toEventTrace = (row: InboxRow, changes: readonly ChangeTraceRow[], deliveries: readonly DeliveryTraceRow[]): EventTrace => ({
  ...eventWithChanges(row, changes),
  deliveries: deliveries.map((d) => ({
    deliveryId: d.delivery_id,
    integration: d.integration,
    status: d.status,
    attempts: d.attempts,
    totalAttempts: d.total_attempts,
    lastError: d.last_error,
    lastStatus: d.last_status,
    createdAt: d.created_at,
    completedAt: d.completed_at,
  })),
});

/** A change row with the event it belongs to, as a flow trace reads many events' changes at once. */
export interface FlowChangeRow extends ChangeTraceRow {
  event_id: string;
}

/**
 * The source run that emitted an event, as the source runner writes it into the envelope's
 * metadata (`origin: 'source'`); null for any other event.
 */
export function originOf(envelope: Record<string, unknown>): EventOrigin | null {
  const m = envelope.metadata as Record<string, unknown> | null | undefined;
  if (!m || m.origin !== 'source' || typeof m.source !== 'string' || typeof m.runId !== 'string') return null;
  return { source: m.source, runId: m.runId, itemId: typeof m.itemId === 'string' ? m.itemId : null };
}

/** The events of a flow in order, each with its changes (`changes` holds every event's, in order) and origin. */
export function toFlowEvents(rows: readonly InboxRow[], changes: readonly FlowChangeRow[]): FlowEvent[] {
  // Not Map.groupBy: Node 20 lacks it.
  const byEvent = new Map<string, FlowChangeRow[]>();
  for (const c of changes) {
    const list = byEvent.get(c.event_id);
    if (list) list.push(c);
    else byEvent.set(c.event_id, [c]);
  }
  return rows.map((row) => ({
    ...eventWithChanges(row, byEvent.get(row.event_id) ?? []),
    origin: originOf(JSON.parse(row.envelope) as Record<string, unknown>),
  }));
}

/**
 * A source's failures in a row after a run ends, as SQL over its `consecutive_failures`: a
 * success ends the streak, a failure extends it, and an interrupted run (the hub stopped, the
 * lease was lost) is no failure of the source.
 */
export const sourceFailuresAfter = (status: Exclude<SourceRun['status'], 'running'>): string =>
  ({ succeeded: '0', failed: 'consecutive_failures + 1', interrupted: 'consecutive_failures' })[status];

export interface SourceRowDb {
  name: string;
  kind: string;
  schedule: string;
  checkpoint: string | null;
  checkpoint_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  current_run: string | null;
  next_run_at: number | null;
  consecutive_failures: number;
  last_run: string | null;
}

export interface RunRowDb {
  run_id: string;
  source: string;
  trigger: SourceRun['trigger'];
  status: SourceRun['status'];
  owner: string;
  started_at: number;
  finished_at: number | null;
  pages: number;
  items: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  skipped: number;
  error: string | null;
}

export interface RejectedRowDb {
  id: number;
  source: string;
  run_id: string;
  item_id: string | null;
  raw: string;
  reason: string;
  at: number;
}

export const toRun = (r: RunRowDb): SourceRun => ({
  runId: r.run_id,
  source: r.source,
  trigger: r.trigger,
  status: r.status,
  owner: r.owner,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  pages: r.pages,
  items: r.items,
  accepted: r.accepted,
  duplicates: r.duplicates,
  rejected: r.rejected,
  skipped: r.skipped,
  error: r.error,
});

export const parseCheckpoint = (text: string | null): Json | null => (text === null ? null : (JSON.parse(text) as Json));

export const toSource = (r: SourceRowDb, lastRun: SourceRun | null): SourceRow => ({
  name: r.name,
  kind: r.kind,
  schedule: r.schedule,
  checkpoint: parseCheckpoint(r.checkpoint),
  checkpointAt: r.checkpoint_at,
  leaseOwner: r.lease_owner,
  leaseUntil: r.lease_until,
  nextRunAt: r.next_run_at,
  consecutiveFailures: r.consecutive_failures,
  lastRun,
});

export const toRejected = (r: RejectedRowDb): RejectedItem => ({
  id: r.id,
  source: r.source,
  runId: r.run_id,
  itemId: r.item_id,
  raw: JSON.parse(r.raw) as Json,
  reason: r.reason,
  at: r.at,
});

export interface ApiKeyRow {
  id: string;
  name: string;
  hash: string;
  scopes: string;
  events: string | null;
  signing_secret: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export const toApiKey = (r: ApiKeyRow): ApiKey => ({
  id: r.id,
  name: r.name,
  scopes: JSON.parse(r.scopes) as Scope[],
  events: r.events === null ? null : (JSON.parse(r.events) as string[]),
  signingSecret: r.signing_secret,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

/** The columns of a new key, in the order both drivers insert them. */
export const apiKeyValues = (k: NewApiKey) =>
  [k.id, k.name, k.hash, JSON.stringify(k.scopes), k.events === null ? null : JSON.stringify(k.events), k.signingSecret, k.createdAt] as const;

export interface ActionRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  details: string | null;
}

export const toAction = (r: ActionRow): OperatorAction => ({
  id: r.id,
  at: r.at,
  actor: r.actor,
  action: r.action,
  target: r.target,
  outcome: r.outcome,
  details: r.details === null ? null : (JSON.parse(r.details) as Json),
});

export const actionValues = (a: NewOperatorAction) => [a.at, a.actor, a.action, a.target, a.outcome, a.details === null ? null : JSON.stringify(a.details)] as const;
