// The read side (CQRS): records, time travel, audit pages, event traces and the
// parked keys an operator can retry or skip. Mounted behind the scope check;
// it never writes a record.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { recordAt } from '../engine/time-travel.js';
import type { Flow } from '../flow/flow.js';
import type { Store } from '../store/store.js';
import type { AuditEntry, EventTrace, StoredRecord } from '../store/types.js';
import { describeIssues } from '../validation/field-issues.js';
import { sendError } from './api-error.js';
import { iso } from './iso.js';

export interface ReadApiOptions {
  store: Pick<Store, 'inbox' | 'records'>;
  flow: Flow;
  /** Called after an operator unparks a key, so processing resumes at once. */
  onUnparked?: () => void;
}


const recordBody = (r: StoredRecord) => ({ entity: r.entity, key: r.key, version: r.version, parts: r.parts, updatedAt: iso(r.updatedAt) });

export const auditBody = (a: AuditEntry) => ({
  part: a.part,
  field: a.field,
  oldValue: a.oldValue ?? null,
  newValue: a.newValue ?? null,
  rule: a.rule,
  eventId: a.eventId,
  flowId: a.flowId,
  version: a.version,
  at: iso(a.at),
});

/** An event as the API shows it, with its changes; each view shows its deliveries its own way. */
export const eventBody = <E extends Omit<EventTrace, 'deliveries'>>(event: E) => ({
  ...event,
  acceptedAt: iso(event.acceptedAt),
  processedAt: iso(event.processedAt),
  changes: event.changes.map((c) => ({
    ...c,
    at: iso(c.at),
    diffs: c.diffs.map((d) => ({ part: d.part, field: d.field, oldValue: d.oldValue ?? null, newValue: d.newValue ?? null })),
  })),
});

const encodeCursor = (id: number) => Buffer.from(`audit:${id}`).toString('base64url');
const decodeCursor = (cursor: string): number | undefined => {
  const match = /^audit:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  return match ? Number(match[1]) : undefined;
};

const recordQuery = z.object({ at: z.iso.datetime({ offset: true }).optional() });
const auditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().min(1).optional(),
});

export async function readApiRoutes(app: FastifyInstance, options: ReadApiOptions): Promise<void> {
  const { store, flow } = options;

  const invalid = (reply: Parameters<typeof sendError>[0], error: z.ZodError) =>
    sendError(reply, 400, 'INVALID_REQUEST', 'the query is invalid', { fields: describeIssues(error.issues) });

  const knownEntity = (name: string) => flow.entities.has(name);

  app.get<{ Params: { entity: string; key: string } }>('/api/v1/entities/:entity/:key', async (request, reply) => {
    const { entity, key } = request.params;
    if (!knownEntity(entity)) return sendError(reply, 404, 'ENTITY_NOT_FOUND', `no entity named "${entity}"`);
    const query = recordQuery.safeParse(request.query);
    if (!query.success) return invalid(reply, query.error);
    const record = query.data.at === undefined ? await store.records.getRecord(entity, key) : await recordAt(store.records, entity, key, Date.parse(query.data.at));
    if (!record) {
      const when = query.data.at === undefined ? '' : ` at ${query.data.at}`;
      return sendError(reply, 404, 'RECORD_NOT_FOUND', `no ${entity} with key "${key}"${when}`);
    }
    return recordBody(record);
  });

  app.get<{ Params: { entity: string; key: string } }>('/api/v1/entities/:entity/:key/audit', async (request, reply) => {
    const { entity, key } = request.params;
    if (!knownEntity(entity)) return sendError(reply, 404, 'ENTITY_NOT_FOUND', `no entity named "${entity}"`);
    const query = auditQuery.safeParse(request.query);
    if (!query.success) return invalid(reply, query.error);
    const after = query.data.cursor === undefined ? 0 : decodeCursor(query.data.cursor);
    if (after === undefined) return sendError(reply, 400, 'INVALID_CURSOR', 'the cursor is not one this API handed out');
    // One extra row tells whether another page exists.
    const rows = await store.records.listAudit(entity, key, { after, limit: query.data.limit + 1 });
    const items = rows.slice(0, query.data.limit);
    const last = items.at(-1);
    return { items: items.map(auditBody), next: rows.length > query.data.limit && last ? encodeCursor(last.id) : null };
  });

  app.get<{ Params: { entity: string; key: string } }>('/api/v1/entities/:entity/:key/identifiers', async (request, reply) => {
    const { entity, key } = request.params;
    if (!knownEntity(entity)) return sendError(reply, 404, 'ENTITY_NOT_FOUND', `no entity named "${entity}"`);
    const links = await store.records.listIdentifiers(entity, key);
    if (links.length === 0 && !(await store.records.getRecord(entity, key))) return sendError(reply, 404, 'RECORD_NOT_FOUND', `no ${entity} with key "${key}"`);
    return { items: links.map((l) => ({ identifier: l.identifier, value: l.value, eventId: l.eventId, linkedAt: iso(l.linkedAt) })) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/events/:id', async (request, reply) => {
    const trace = await store.records.getEvent(request.params.id);
    if (!trace) return sendError(reply, 404, 'EVENT_NOT_FOUND', `no event with id "${request.params.id}"`);
    const { deliveries, ...event } = trace;
    return { ...eventBody(event), deliveries: deliveries.map((d) => ({ ...d, createdAt: iso(d.createdAt), completedAt: iso(d.completedAt) })) };
  });

  app.get('/api/v1/parked', async () => ({
    items: (await store.inbox.listParked()).map((p) => ({ ...p, parkedAt: iso(p.parkedAt) })),
  }));

  app.post<{ Params: { entity: string; key: string } }>('/api/v1/parked/:entity/:key/retry', { config: { action: 'parked.retry' } }, async (request, reply) => {
    const { entity, key } = request.params;
    if (!(await store.inbox.retryParked(entity, key))) return sendError(reply, 404, 'NOT_PARKED', `${entity}/${key} is not parked`);
    options.onUnparked?.();
    return { entity, key, status: 'retrying' };
  });

  app.post<{ Params: { entity: string; key: string } }>('/api/v1/parked/:entity/:key/skip', { config: { action: 'parked.skip' } }, async (request, reply) => {
    const { entity, key } = request.params;
    const skipped = await store.inbox.skipParked(entity, key);
    if (!skipped) return sendError(reply, 404, 'NOT_PARKED', `${entity}/${key} is not parked`);
    options.onUnparked?.();
    return { entity, key, status: 'skipped', skippedEventId: skipped.skippedEventId };
  });
}
