// `GET /metrics` in the Prometheus text format, behind a bearer token: the
// metrics token (`CONFLUO_METRICS_TOKEN`) or any key with the admin scope. And
// the hook that times every HTTP request by its route pattern.
import type { FastifyInstance } from 'fastify';
import { sendError } from '../api/api-error.js';
import type { Access } from '../security/access.js';
import { bearerToken, matchesAny } from '../security/secrets.js';
import type { HubMetrics } from './metrics.js';

export interface MetricsRouteOptions {
  metrics: HubMetrics;
  access: Access;
  /** A token that may read `/metrics` and nothing else. @defaultValue none: only admin keys */
  token?: string | undefined;
}

export function metricsRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  const tokens = options.token ? [options.token] : [];
  app.get('/metrics', async (request, reply) => {
    const presented = bearerToken(request.headers.authorization);
    if (!matchesAny(presented, tokens)) {
      const caller = await options.access.identify(presented);
      if (!caller) return sendError(reply, 401, 'UNAUTHORIZED', 'send Authorization: Bearer <the metrics token or an admin key>');
      if (!caller.scopes.has('admin')) return sendError(reply, 403, 'FORBIDDEN', `the key "${caller.name}" does not have the admin scope /metrics needs`);
    }
    return reply.type(options.metrics.contentType).send(await options.metrics.scrape());
  });
}

/** Times every request served by the routes registered after it (register it first). */
export function measureRequests(app: FastifyInstance, metrics: HubMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.request(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
  });
}
