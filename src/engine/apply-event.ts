// Applies one event to one record, in memory and without I/O: find the rule,
// validate the payload and the rule's output, compute field diffs. The
// processor collects these outcomes and commits a batch of them at once.
import type { z } from 'zod';
import type { Flow } from '../flow/flow.js';
import type { CurrentRecord, RuleEvent } from '../flow/rule.js';
import type { FieldDiff, InboxEvent, ParkedKey, StoredRecord } from '../store/types.js';
import { deepFreeze } from './deep-freeze.js';
import { compactPart, diffPart } from './diff.js';
import { describeIssues } from '../validation/field-issues.js';

export type EventOutcome =
  | { kind: 'changed'; rule: string; record: StoredRecord; diffs: FieldDiff[]; changedParts: string[] }
  | { kind: 'unchanged'; rule: string | null }
  | { kind: 'failed'; error: ParkedKey['error'] };

const fail = (code: string, message: string, details?: Record<string, unknown>): EventOutcome => ({
  kind: 'failed',
  error: details ? { code, message, details } : { code, message },
});

const asObject = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

export function applyEvent(flow: Flow, event: InboxEvent, current: StoredRecord | undefined, now: number): EventOutcome {
  const type = flow.eventType(event.name, event.version);
  if (!type) return fail('RULE_NOT_FOUND', `event type ${event.name} v${event.version} is no longer in the flow`);
  const rule = flow.ruleFor(event.name, event.version);
  if (!rule) return { kind: 'unchanged', rule: null };

  const parsed = type.payload.safeParse(event.envelope.payload);
  if (!parsed.success) {
    return fail('EVENT_PAYLOAD_INVALID', 'the stored payload no longer matches its schema', { fields: describeIssues(parsed.error.issues) });
  }

  const ruleEvent: RuleEvent = {
    id: event.eventId,
    name: event.name,
    version: event.version,
    flowId: event.flowId,
    payload: parsed.data,
    identity: asObject(event.envelope.identity),
    metadata: asObject(event.envelope.metadata),
    acceptedAt: new Date(event.acceptedAt),
  };
  // Rules see the record frozen: one that mutates its argument throws (and parks) instead of corrupting the batch.
  const view: CurrentRecord | undefined = current && {
    key: current.key,
    version: current.version,
    parts: deepFreeze(current.parts),
    updatedAt: new Date(current.updatedAt),
  };

  let output: unknown;
  try {
    output = rule.apply(ruleEvent, view);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return fail('RULE_FAILED', `rule "${rule.name}" threw: ${message}`, error instanceof Error ? { error: error.name } : undefined);
  }
  if (output === undefined || output === null) return { kind: 'unchanged', rule: rule.name };
  if (typeof output !== 'object' || Array.isArray(output)) {
    return fail('RULE_OUTPUT_INVALID', `rule "${rule.name}" returned ${Array.isArray(output) ? 'an array' : typeof output}, not an object of parts`);
  }

  const entity = type.entity;
  const parts = { ...(current?.parts ?? {}) };
  const diffs: FieldDiff[] = [];
  const changedParts: string[] = [];
  for (const [part, value] of Object.entries(output)) {
    if (value === undefined) continue;
    if (!rule.parts.includes(part)) {
      return fail('RULE_OUTPUT_INVALID', `rule "${rule.name}" returned part "${part}", which it does not declare (${rule.parts.join(', ')})`);
    }
    const schema = entity.parts[part] as z.ZodObject;
    const checked = schema.safeParse(value);
    if (!checked.success) {
      return fail('RULE_OUTPUT_INVALID', `rule "${rule.name}" returned an invalid "${part}"`, {
        fields: describeIssues(checked.error.issues, part),
      });
    }
    const next = compactPart(checked.data as Record<string, unknown>);
    const partDiffs = diffPart(part, parts[part], next, Object.keys(schema.shape));
    if (partDiffs.length === 0) continue;
    parts[part] = next;
    diffs.push(...partDiffs);
    changedParts.push(part);
  }
  if (diffs.length === 0) return { kind: 'unchanged', rule: rule.name };

  const record: StoredRecord = {
    entity: entity.name,
    key: event.key,
    version: (current?.version ?? 0) + 1,
    parts: deepFreeze(parts),
    createdAt: current?.createdAt ?? now,
    updatedAt: now,
  };
  return { kind: 'changed', rule: rule.name, record, diffs, changedParts };
}
