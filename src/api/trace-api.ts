// Following data through the hub: one flow from its source run to every
// attempt of every delivery (`/flows/:flowId`), and one field of one record
// through every value it had and where each went (`.../lineage`). Read-only;
// mounted behind the scope check. The views are built in src/observability.
import type { FastifyInstance } from 'fastify';
import type { Integration } from '../delivery/integration.js';
import type { Flow } from '../flow/flow.js';
import { buildFlowTrace } from '../observability/flow-trace.js';
import { buildLineage, parseFieldPath, subscribersOf } from '../observability/lineage.js';
import type { Store } from '../store/store.js';
import { sendError } from './api-error.js';

export interface TraceApiOptions {
  store: Pick<Store, 'records' | 'deliveries' | 'sources'>;
  flow: Flow;
  integrations: ReadonlyMap<string, Integration>;
}

export async function traceApiRoutes(app: FastifyInstance, options: TraceApiOptions): Promise<void> {
  const { store, flow, integrations } = options;

  app.get<{ Params: { flowId: string } }>('/api/v1/flows/:flowId', async (request, reply) => {
    const trace = await buildFlowTrace(store, request.params.flowId);
    if (!trace) return sendError(reply, 404, 'UNKNOWN_FLOW', `no event has flow id "${request.params.flowId}"`);
    return trace;
  });

  app.get<{ Params: { entity: string; key: string }; Querystring: { field?: unknown } }>('/api/v1/entities/:entity/:key/lineage', async (request, reply) => {
    const { entity: name, key } = request.params;
    const entity = flow.entities.get(name);
    if (!entity) return sendError(reply, 404, 'ENTITY_NOT_FOUND', `no entity named "${name}"`);
    const path = request.query.field;
    if (typeof path !== 'string') return sendError(reply, 400, 'INVALID_FIELD', 'give the field as ?field=<part>.<field>');
    const parsed = parseFieldPath(entity, path);
    if ('error' in parsed) return sendError(reply, 400, 'INVALID_FIELD', parsed.error);
    const lineage = await buildLineage(store, { entity: name, key, ...parsed }, subscribersOf(integrations.values(), name, parsed.part));
    if (!lineage) return sendError(reply, 404, 'RECORD_NOT_FOUND', `no ${name} with key "${key}"`);
    return lineage;
  });
}
