// The auth config schema and the authenticators that need no token endpoint.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors/index.js';
import { authSchema, createAuthenticator, type AuthOptions } from './auth.js';

describe('authSchema', () => {
  it('defaults credentialsIn to body for both grants', () => {
    const base = { type: 'oauth2', tokenUrl: 'https://login.example.com/token', clientId: 'id', clientSecret: 'secret' } as const;
    expect(authSchema.parse({ ...base, grant: 'client_credentials' })).toMatchObject({ credentialsIn: 'body' });
    expect(authSchema.parse({ ...base, grant: 'password', username: 'u', password: 'p' })).toMatchObject({ credentialsIn: 'body' });
  });

  it('allows query credentials only for the password grant', () => {
    const base = { type: 'oauth2', tokenUrl: 'https://login.example.com/token', clientId: 'id', clientSecret: 'secret', credentialsIn: 'query' } as const;
    expect(authSchema.safeParse({ ...base, grant: 'password', username: 'u', password: 'p' }).success).toBe(true);
    expect(authSchema.safeParse({ ...base, grant: 'client_credentials' }).success).toBe(false);
  });

  it('rejects unknown grants, unknown keys, non-http token URLs and empty secrets', () => {
    const base = { type: 'oauth2', grant: 'client_credentials', tokenUrl: 'https://login.example.com/token', clientId: 'id', clientSecret: 'secret' };
    expect(authSchema.safeParse(base).success).toBe(true);
    expect(authSchema.safeParse({ ...base, grant: 'implicit' }).success).toBe(false);
    expect(authSchema.safeParse({ ...base, scopes: 'a b' }).success).toBe(false);
    expect(authSchema.safeParse({ ...base, tokenUrl: 'ftp://login.example.com/token' }).success).toBe(false);
    expect(authSchema.safeParse({ ...base, clientSecret: '' }).success).toBe(false);
    expect(authSchema.safeParse({ type: 'bearer', token: '' }).success).toBe(false);
  });
});

describe('createAuthenticator', () => {
  it('without options sends no headers', async () => {
    const auth = createAuthenticator(undefined);
    expect(await auth.headers()).toEqual({});
    auth.invalidate();
    expect(await auth.headers()).toEqual({});
  });

  it('bearer sends the static token, before and after invalidate()', async () => {
    const auth = createAuthenticator({ type: 'bearer', token: 'static-token-123' });
    expect(await auth.headers()).toEqual({ authorization: 'Bearer static-token-123' });
    auth.invalidate();
    expect(await auth.headers()).toEqual({ authorization: 'Bearer static-token-123' });
  });

  it('hands out a fresh headers object each time, so a caller cannot change the next one', async () => {
    const auth = createAuthenticator({ type: 'bearer', token: 'static-token-123' });
    const first = await auth.headers();
    first.authorization = 'tampered';
    expect(await auth.headers()).toEqual({ authorization: 'Bearer static-token-123' });
  });

  it('throws a ConfigError naming the bad fields, without their values', () => {
    const options = { type: 'oauth2', grant: 'password', tokenUrl: 'not a url', clientId: 'id', clientSecret: 'super-secret-value' } as unknown as AuthOptions;
    let error: unknown;
    try {
      createAuthenticator(options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/^invalid sink auth: /);
    expect(message).toContain('auth.tokenUrl');
    expect(message).toContain('auth.username');
    expect(message).toContain('auth.password');
    expect(message).not.toContain('super-secret-value');
  });
});
