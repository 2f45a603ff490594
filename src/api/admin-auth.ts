// Guards every route of the admin API (read side and operations) with the admin token.
import type { FastifyInstance } from 'fastify';
import { bearerToken, matchesAny } from '../security/secrets.js';
import { sendError } from './api-error.js';

export function requireAdmin(app: FastifyInstance, adminTokens: readonly string[]): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!matchesAny(bearerToken(request.headers.authorization), adminTokens)) {
      return sendError(reply, 401, 'UNAUTHORIZED', 'send Authorization: Bearer <admin token>');
    }
  });
}
