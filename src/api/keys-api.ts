// API keys over HTTP (the `admin` scope): create one (its key shown once),
// list them without their secrets, revoke one. Revoking here takes effect in
// this process at once and in every other within the access cache's life.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Access } from '../security/access.js';
import { createApiKey, KeyNameTakenError, newKeySchema } from '../security/api-keys.js';
import type { AccessStore, ApiKey } from '../store/access-store.js';
import { describeIssues } from '../validation/field-issues.js';
import { sendError } from './api-error.js';
import { iso } from './iso.js';

export interface KeysApiOptions {
  store: AccessStore;
  access: Access;
}

const keyBody = (k: ApiKey) => ({
  name: k.name,
  scopes: k.scopes,
  events: k.events,
  signed: k.signingSecret !== null,
  createdAt: iso(k.createdAt),
  lastUsedAt: iso(k.lastUsedAt),
  revokedAt: iso(k.revokedAt),
});

const bodyName = (request: FastifyRequest) => {
  const name = (request.body as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : '';
};

export async function keysApiRoutes(app: FastifyInstance, options: KeysApiOptions): Promise<void> {
  const { store, access } = options;

  app.get('/api/v1/keys', { config: { scope: 'admin' } }, async () => ({ items: (await store.listKeys()).map(keyBody) }));

  app.post('/api/v1/keys', { config: { scope: 'admin', action: 'key.create', target: bodyName } }, async (request, reply) => {
    const body = newKeySchema.safeParse(request.body ?? {});
    if (!body.success) return sendError(reply, 400, 'INVALID_REQUEST', 'the request is invalid', { fields: describeIssues(body.error.issues) });
    try {
      const created = await createApiKey(store, body.data, Date.now());
      return reply.code(201).send({ ...keyBody(created.record), key: created.key, signingSecret: created.signingSecret });
    } catch (error) {
      if (error instanceof KeyNameTakenError) return sendError(reply, 409, error.code, error.message);
      throw error;
    }
  });

  app.delete<{ Params: { name: string } }>('/api/v1/keys/:name', { config: { scope: 'admin', action: 'key.revoke' } }, async (request, reply) => {
    const { name } = request.params;
    if (!(await store.revokeKey(name, Date.now()))) return sendError(reply, 404, 'KEY_NOT_FOUND', `no active key is named "${name}"`);
    access.forget();
    return { name, revoked: true };
  });
}
