// Minting stored API keys: the request (validated once, for the API and the
// CLI alike), the random key shown once, and the row that keeps only its hash.
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ConfluoError } from '../errors/index.js';
import { SCOPES, type AccessStore, type ApiKey } from '../store/access-store.js';
import { hashKey } from './access.js';
import { newSecret } from './secrets.js';

export const newKeySchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a name is 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit'),
    scopes: z.array(z.enum(SCOPES)).min(1),
    /** Limits an `ingest` key to these event names. */
    events: z.array(z.string().min(1).max(256)).min(1).max(1000).optional(),
    /** Requests with the key must carry a Standard Webhooks signature; its secret is returned once. */
    signed: z.boolean().default(false),
  })
  .refine((k) => k.events === undefined || k.scopes.includes('ingest'), { message: 'an event list limits the ingest scope: add ingest or drop the list', path: ['events'] })
  .refine((k) => !k.signed || k.scopes.every((s) => s === 'ingest'), { message: 'signatures are checked on the events routes only: a signed key has the ingest scope alone', path: ['signed'] });

export type NewKeyRequest = z.input<typeof newKeySchema>;

export class KeyNameTakenError extends ConfluoError {
  constructor(name: string) {
    super('KEY_NAME_TAKEN', `an active key is already named "${name}": revoke it first or choose another name`);
  }
}

/** A new key, kept in the store; the key and its signing secret exist only in this answer. */
export async function createApiKey(store: AccessStore, request: NewKeyRequest, now: number): Promise<{ key: string; signingSecret: string | null; record: ApiKey }> {
  const valid = newKeySchema.parse(request);
  const key = newSecret('ck');
  const record: ApiKey = {
    id: randomUUID(),
    name: valid.name,
    scopes: [...new Set(valid.scopes)],
    events: valid.events ? [...new Set(valid.events)] : null,
    signingSecret: valid.signed ? `whsec_${randomBytes(32).toString('base64')}` : null,
    createdAt: now,
    lastUsedAt: null,
    revokedAt: null,
  };
  if (!(await store.createKey({ ...record, hash: hashKey(key) }))) throw new KeyNameTakenError(valid.name);
  return { key, signingSecret: record.signingSecret, record };
}
