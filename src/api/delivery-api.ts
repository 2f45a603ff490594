// Operations on the outbound side: integrations (state, counts, pause,
// resume, replay a time range) and deliveries (list, inspect with every
// attempt, retry). Mounted behind the scope check.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Integration } from '../delivery/integration.js';
import { DELIVERY_STATUSES, type Delivery, type DeliveryAttempt } from '../store/delivery-types.js';
import type { DeliveryStore } from '../store/delivery-store.js';
import type { Store } from '../store/store.js';
import { describeIssues } from '../validation/field-issues.js';
import { sendError } from './api-error.js';
import { iso } from './iso.js';
import { maskHeaders } from '../delivery/auth/index.js';

export interface DeliveryApiOptions {
  store: Pick<Store, 'deliveries'>;
  integrations: ReadonlyMap<string, Integration>;
  /** Called after anything that makes deliveries due, so the dispatcher looks at once. */
  onChanged?: () => void;
}

/** Replays are written in chunks of this many deliveries per transaction. */
export const REPLAY_CHUNK = 500;

export const deliveryBody = (d: Delivery) => ({
  deliveryId: d.deliveryId,
  integration: d.integration,
  kind: d.kind,
  entity: d.entity,
  key: d.key,
  eventId: d.eventId,
  version: d.version,
  status: d.status,
  attempts: d.attempts,
  totalAttempts: d.totalAttempts,
  nextAttemptAt: iso(d.nextAttemptAt),
  lastStatus: d.lastStatus,
  lastError: d.lastError,
  createdAt: iso(d.createdAt),
  updatedAt: iso(d.updatedAt),
  completedAt: iso(d.completedAt),
});

export const attemptBody = (a: DeliveryAttempt) => ({ ...a, startedAt: iso(a.startedAt), nextAttemptAt: iso(a.nextAttemptAt) });

const listQuery = z.object({
  integration: z.string().min(1).optional(),
  status: z.enum(DELIVERY_STATUSES as [string, ...string[]]).optional(),
  key: z.string().min(1).optional(),
  eventId: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.coerce.number().int().min(1).optional(),
});

export const replayBody = z
  .object({ since: z.iso.datetime({ offset: true }), until: z.iso.datetime({ offset: true }).optional() })
  .refine((b) => b.until === undefined || Date.parse(b.since) <= Date.parse(b.until), { message: 'since must not be after until', path: ['since'] });

/** Replays every replayable delivery of an integration in [since, until], chunk by chunk. */
export async function replayRange(store: DeliveryStore, integration: string, since: number, until: number, onChunk?: (done: number) => void): Promise<number> {
  let afterSeq = 0;
  let total = 0;
  for (;;) {
    const { replayed, lastSeq } = await store.replayDeliveries(integration, since, until, { afterSeq, limit: REPLAY_CHUNK, now: Date.now() });
    total += replayed;
    onChunk?.(total);
    if (lastSeq === null || replayed < REPLAY_CHUNK) return total;
    afterSeq = lastSeq;
  }
}

export async function deliveryApiRoutes(app: FastifyInstance, options: DeliveryApiOptions): Promise<void> {
  const { store, integrations } = options;
  const invalid = (reply: Parameters<typeof sendError>[0], error: z.ZodError) =>
    sendError(reply, 400, 'INVALID_REQUEST', 'the request is invalid', { fields: describeIssues(error.issues) });
  const unknown = (reply: Parameters<typeof sendError>[0], name: string) => sendError(reply, 404, 'INTEGRATION_NOT_FOUND', `no integration named "${name}" is running`);

  app.get('/api/v1/integrations', async () => {
    const rows = new Map((await store.deliveries.listIntegrations()).map((r) => [r.name, r]));
    return {
      items: [...integrations.values()].map((i) => {
        const row = rows.get(i.name);
        return {
          name: i.name,
          sink: i.sink.kind,
          on: i.on,
          ordered: i.ordered,
          digest: i.digest ? { windowMs: i.digest.windowMs } : null,
          state: row?.state ?? 'active',
          reason: row?.reason ?? null,
          failingSince: iso(row?.failingSince ?? null),
          consecutiveFailures: row?.consecutiveFailures ?? 0,
          counts: row?.counts ?? Object.fromEntries(DELIVERY_STATUSES.map((s) => [s, 0])),
        };
      }),
    };
  });

  for (const [action, state] of [['pause', 'paused'], ['resume', 'active']] as const) {
    app.post<{ Params: { name: string } }>(`/api/v1/integrations/:name/${action}`, { config: { action: `integration.${action}` } }, async (request, reply) => {
      const { name } = request.params;
      if (!integrations.has(name)) return unknown(reply, name);
      const previous = await store.deliveries.setIntegrationState(name, state, action === 'pause' ? 'paused by an operator' : null, Date.now());
      options.onChanged?.();
      return { name, state, previous };
    });
  }

  app.post<{ Params: { name: string } }>('/api/v1/integrations/:name/replay', { config: { action: 'integration.replay' } }, async (request, reply) => {
    const { name } = request.params;
    if (!integrations.has(name)) return unknown(reply, name);
    const body = replayBody.safeParse(request.body ?? {});
    if (!body.success) return invalid(reply, body.error);
    const since = Date.parse(body.data.since);
    const until = body.data.until === undefined ? Date.now() : Date.parse(body.data.until);
    const replayed = await replayRange(store.deliveries, name, since, until);
    options.onChanged?.();
    return { name, since: iso(since), until: iso(until), replayed };
  });

  app.get('/api/v1/deliveries', async (request, reply) => {
    const query = listQuery.safeParse(request.query);
    if (!query.success) return invalid(reply, query.error);
    const { cursor, limit, status, ...filter } = query.data;
    const rows = await store.deliveries.listDeliveries({ ...filter, ...(status ? { status: status as Delivery['status'] } : {}), ...(cursor ? { before: cursor } : {}), limit: limit + 1 });
    const items = rows.slice(0, limit);
    return { items: items.map(deliveryBody), next: rows.length > limit ? String(items.at(-1)?.seq) : null };
  });

  app.get<{ Params: { id: string } }>('/api/v1/deliveries/:id', async (request, reply) => {
    const delivery = await store.deliveries.getDelivery(request.params.id);
    if (!delivery) return sendError(reply, 404, 'DELIVERY_NOT_FOUND', `no delivery with id "${request.params.id}"`);
    const requestShown = delivery.request && { ...delivery.request, ...(delivery.request.headers ? { headers: maskHeaders(delivery.request.headers) } : {}) };
    return { ...deliveryBody(delivery), request: requestShown ?? null, attemptLog: delivery.log.map(attemptBody) };
  });

  app.post<{ Params: { id: string } }>('/api/v1/deliveries/:id/retry', { config: { action: 'delivery.retry' } }, async (request, reply) => {
    const delivery = await store.deliveries.getDelivery(request.params.id);
    if (!delivery) return sendError(reply, 404, 'DELIVERY_NOT_FOUND', `no delivery with id "${request.params.id}"`);
    if (!(await store.deliveries.retryDelivery(delivery.deliveryId, Date.now()))) {
      return sendError(reply, 409, 'NOT_RETRYABLE', `delivery ${delivery.deliveryId} is ${delivery.status}${delivery.request ? '' : ' and has no request to send'}; only succeeded, failed and dead deliveries can be sent again`);
    }
    options.onChanged?.();
    return { deliveryId: delivery.deliveryId, status: 'pending' };
  });
}
