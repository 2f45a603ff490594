// Health over HTTP, behind the scope check: the whole view (admin), the
// monitors with their transitions (read), pause and resume (operate, recorded
// as operator actions), and push beats from services and cron jobs (any key
// with the ingest scope; a bare GET counts, for curl in a crontab).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { MonitorRunner } from '../health/monitor-runner.js';
import type { Monitor } from '../health/monitor.js';
import type { HealthStore } from '../store/health-store.js';
import { describeIssues } from '../validation/field-issues.js';
import { sendError } from './api-error.js';
import { healthView, monitorBodies, monitorBody } from './health-view.js';
import { iso } from './iso.js';

export interface HealthApiOptions {
  store: HealthStore;
  monitors: readonly Monitor[];
  runner: MonitorRunner;
}

const transitionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.coerce.number().int().min(1).optional(),
});

/** Details are kept with the monitor and shown in the API: bounded like an event's payload is not, on purpose small. */
const MAX_DETAILS_CHARS = 8192;

const beatBody = z
  .strictObject({
    status: z.enum(['ok', 'error']).default('ok'),
    message: z.string().max(1000).optional(),
    details: z.unknown().optional(),
  })
  .refine((b) => b.details === undefined || JSON.stringify(b.details).length <= MAX_DETAILS_CHARS, {
    message: `details must be at most ${MAX_DETAILS_CHARS} characters of JSON`,
    path: ['details'],
  });

const unknownMonitor = (reply: FastifyReply, name: string) => sendError(reply, 404, 'UNKNOWN_MONITOR', `no monitor is named "${name}"`);

export async function healthApiRoutes(app: FastifyInstance, options: HealthApiOptions): Promise<void> {
  const { store, monitors, runner } = options;
  const configured = new Map(monitors.map((m) => [m.name, m]));

  app.get('/api/v1/health', { config: { scope: 'admin' } }, async () => healthView(store, monitors));

  app.get('/api/v1/monitors', async () => {
    return { items: monitorBodies(await store.listMonitors(), monitors) };
  });

  app.get<{ Params: { name: string } }>('/api/v1/monitors/:name', async (request, reply) => {
    const row = await store.getMonitor(request.params.name);
    if (!row && !configured.has(request.params.name)) return unknownMonitor(reply, request.params.name);
    return monitorBody(row, configured.get(request.params.name), request.params.name);
  });

  app.get<{ Params: { name: string } }>('/api/v1/monitors/:name/transitions', async (request, reply) => {
    const query = transitionsQuery.safeParse(request.query);
    if (!query.success) return sendError(reply, 400, 'INVALID_REQUEST', 'the query is invalid', { fields: describeIssues(query.error.issues) });
    const { name } = request.params;
    if (!configured.has(name) && !(await store.getMonitor(name))) return unknownMonitor(reply, name);
    const rows = await store.listTransitions(name, { limit: query.data.limit + 1, ...(query.data.cursor ? { before: query.data.cursor } : {}) });
    const items = rows.slice(0, query.data.limit);
    return {
      items: items.map((t) => ({ id: t.id, from: t.from, to: t.to, at: iso(t.at), message: t.message, details: t.details, announced: t.announced })),
      next: rows.length > query.data.limit ? String(items.at(-1)?.id) : null,
    };
  });

  for (const verb of ['pause', 'resume'] as const) {
    app.post<{ Params: { name: string } }>(`/api/v1/monitors/:name/${verb}`, { config: { action: `monitor.${verb}` } }, async (request, reply) => {
      const { name } = request.params;
      if (!configured.has(name)) return unknownMonitor(reply, name);
      const row = verb === 'pause' ? await runner.pause(name) : await runner.resume(name);
      if (!row) return unknownMonitor(reply, name);
      return monitorBody(row, configured.get(name), name);
    });
  }

  const beat = async (name: string, body: unknown, reply: FastifyReply) => {
    const parsed = beatBody.safeParse(body ?? {});
    if (!parsed.success) return sendError(reply, 400, 'INVALID_REQUEST', 'a beat is {"status": "ok" | "error", "message"?, "details"?}', { fields: describeIssues(parsed.error.issues) });
    const { status, message, details } = parsed.data;
    const outcome = await runner.beat(name, { status, ...(message !== undefined ? { message } : {}), ...(details !== undefined ? { details } : {}) });
    if (outcome === 'unknown') return unknownMonitor(reply, name);
    if (outcome === 'not-push') return sendError(reply, 409, 'NOT_A_PUSH_MONITOR', `monitor "${name}" is checked by Confluo (http); it takes no beats`);
    return { monitor: name, status, recordedAt: new Date().toISOString() };
  };
  app.post<{ Params: { name: string } }>('/api/v1/heartbeats/:name', { config: { scope: 'ingest' } }, async (request, reply) => beat(request.params.name, request.body, reply));
  app.get<{ Params: { name: string } }>('/api/v1/heartbeats/:name', { config: { scope: 'ingest' } }, async (request, reply) => beat(request.params.name, undefined, reply));
}
