// Every operator action taken through the API is recorded: who (the key's
// name), what (the route's `action`), when and on what (the route's params),
// with its outcome. The record is written before the answer leaves, so a
// caller that got an answer can read its action back. `GET
// /api/v1/operator-actions` lists them, newest first.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AccessStore } from '../store/access-store.js';
import type { Json } from '../store/types.js';
import { describeIssues } from '../validation/field-issues.js';
import { sendError } from './api-error.js';
import { iso } from './iso.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Records each call as this operator action, e.g. `parked.retry`. */
    action?: string;
    /** What the action is on. @defaultValue the route's params, joined with `/` */
    target?: (request: FastifyRequest) => string;
  }
}

/** What an action's answer says about it: `done`, or the status and error code. */
function outcomeOf(status: number, payload: unknown): string {
  if (status < 400) return 'done';
  let code = '';
  try {
    code = typeof payload === 'string' ? String((JSON.parse(payload) as { error?: { code?: unknown } }).error?.code ?? '') : '';
  } catch {
    // Not our JSON error shape: the status says enough.
  }
  return code ? `${status} ${code}` : String(status);
}

export function recordActions(app: FastifyInstance, store: AccessStore, log: Logger): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const { action, target } = request.routeOptions.config;
    if (action === undefined || request.caller === null) return payload;
    const params = (request.params ?? {}) as Record<string, string>;
    // Bodies of operator routes carry choices (a time range, a key's name and scopes), never secrets.
    const body = request.body !== null && typeof request.body === 'object' ? (request.body as Json) : null;
    try {
      await store.recordAction({
        at: Date.now(),
        actor: request.caller.name,
        action,
        target: target ? target(request) : Object.values(params).join('/'),
        outcome: outcomeOf(reply.statusCode, payload),
        details: body,
      });
    } catch (error) {
      log.error({ err: error, action, actor: request.caller.name }, 'could not record an operator action');
    }
    return payload;
  });
}

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.coerce.number().int().min(1).optional(),
});

export async function operatorActionRoutes(app: FastifyInstance, options: { store: AccessStore }): Promise<void> {
  app.get('/api/v1/operator-actions', async (request, reply) => {
    const query = listQuery.safeParse(request.query);
    if (!query.success) return sendError(reply, 400, 'INVALID_REQUEST', 'the query is invalid', { fields: describeIssues(query.error.issues) });
    const rows = await options.store.listActions({ limit: query.data.limit + 1, ...(query.data.cursor ? { before: query.data.cursor } : {}) });
    const items = rows.slice(0, query.data.limit);
    return {
      items: items.map((a) => ({ id: a.id, at: iso(a.at), actor: a.actor, action: a.action, target: a.target, outcome: a.outcome, details: a.details })),
      next: rows.length > query.data.limit ? String(items.at(-1)?.id) : null,
    };
  });
}
