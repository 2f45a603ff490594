// How an outbound REST sink authenticates: the config schema (a static bearer
// token or an OAuth2 grant) and the `Authenticator` a sink asks for headers.
import { z } from 'zod';
import { ConfigError } from '../../errors/index.js';
import { describeIssues } from '../../validation/field-issues.js';
import { createOAuth2Authenticator, type OAuth2Deps } from './oauth2.js';

const secret = z.string().min(1);
const tokenUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
/**
 * A token answer (or error answer) larger than this fails the token request, not retried.
 * @defaultValue 65536 (64 KiB)
 */
const maxResponseBytes = z.int().min(1024).optional();

const bearerSchema = z.strictObject({
  type: z.literal('bearer'),
  /** Sent as `Authorization: Bearer <token>`. */
  token: secret,
});

const clientCredentialsSchema = z.strictObject({
  type: z.literal('oauth2'),
  grant: z.literal('client_credentials'),
  tokenUrl,
  clientId: z.string().min(1),
  clientSecret: secret,
  scope: z.string().min(1).optional(),
  /** Asked for by some providers (Auth0) instead of a scope. */
  audience: z.string().min(1).optional(),
  /**
   * Where the client id and secret go: form fields, or HTTP Basic (RFC 6749 §2.3.1).
   * @defaultValue 'body'
   */
  credentialsIn: z.enum(['body', 'header']).default('body'),
  maxResponseBytes,
});

const passwordSchema = z.strictObject({
  type: z.literal('oauth2'),
  grant: z.literal('password'),
  tokenUrl,
  clientId: z.string().min(1),
  clientSecret: secret,
  username: z.string().min(1),
  password: secret,
  scope: z.string().min(1).optional(),
  /**
   * Where the client id and secret go. `query` puts every field in the token
   * URL's query string, as centraal-client-flow does against Salesforce
   * (`use_url_params_for_auth`); use it only for servers that demand it,
   * since URLs end up in proxy logs.
   * @defaultValue 'body'
   */
  credentialsIn: z.enum(['body', 'header', 'query']).default('body'),
  maxResponseBytes,
});

export const authSchema = z.discriminatedUnion('type', [
  bearerSchema,
  z.discriminatedUnion('grant', [clientCredentialsSchema, passwordSchema]),
]);

/** What a sink's config says about authentication (defaults not yet applied). */
export type AuthOptions = z.input<typeof authSchema>;
export type OAuth2Options = z.output<typeof clientCredentialsSchema> | z.output<typeof passwordSchema>;

export interface Authenticator {
  /** The `authorization` header to send, fetching or refreshing a token when needed. */
  headers(): Promise<Record<string, string>>;
  /** Drops a cached token; the sink calls it after a 401, then retries once. */
  invalidate(): void;
}

export type AuthenticatorDeps = OAuth2Deps;

const anonymous: Authenticator = { headers: async () => ({}), invalidate: () => {} };

/** Validates the options (throws `ConfigError`), then builds the matching authenticator. */
export function createAuthenticator(options: AuthOptions | undefined, deps: AuthenticatorDeps = {}): Authenticator {
  if (options === undefined) return anonymous;
  const parsed = authSchema.safeParse(options);
  if (!parsed.success) {
    const fields = describeIssues(parsed.error.issues, 'auth').map((f) => `${f.name}: ${f.message}`);
    throw new ConfigError(`invalid sink auth: ${fields.join('; ')}`);
  }
  const auth = parsed.data;
  if (auth.type === 'bearer') {
    const headers = { authorization: `Bearer ${auth.token}` };
    return { headers: async () => ({ ...headers }), invalidate: () => {} };
  }
  return createOAuth2Authenticator(auth, deps);
}
