// Guards every route of the admin API (read side, operations, keys): the
// caller's key must carry the scope the route needs. A route states it in its
// config; otherwise reading (GET) needs `read` and anything else `operate`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Access, Caller } from '../security/access.js';
import { bearerToken } from '../security/secrets.js';
import type { Scope } from '../store/access-store.js';
import { sendError } from './api-error.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs. @defaultValue `read` for GET and HEAD, `operate` otherwise */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** Who called, once the admin API let them in. */
    caller: Caller | null;
  }
}

/** The one rule for which scope a request needs. */
function requiredScope(request: FastifyRequest): Scope {
  const stated = request.routeOptions.config.scope;
  if (stated) return stated;
  return request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'operate';
}

export function requireScopes(app: FastifyInstance, access: Access): void {
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request, reply) => {
    const caller = await access.identify(bearerToken(request.headers.authorization));
    if (!caller) return sendError(reply, 401, 'UNAUTHORIZED', 'send Authorization: Bearer <key>');
    const scope = requiredScope(request);
    if (!caller.scopes.has(scope)) return sendError(reply, 403, 'FORBIDDEN', `the key "${caller.name}" does not have the ${scope} scope this needs`);
    request.caller = caller;
  });
}
