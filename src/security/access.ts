// Who is calling, and what they may do: turns a bearer token into a Caller.
// The configured keys (CONFLUO_API_KEYS, the admin token, or the generated
// credentials.json) are checked first, in constant time; other tokens are
// looked up in the store by their SHA-256. Answers are cached briefly, so a
// key revoked in any process stops working everywhere within `cacheMs`.
import { createHash } from 'node:crypto';
import type { AccessStore, ApiKey, Scope } from '../store/access-store.js';
import { matchesAny } from './secrets.js';

export interface Caller {
  /** The key's name, as operator actions record it. */
  name: string;
  scopes: ReadonlySet<Scope>;
  /** The only event names it may send; null for all. */
  events: ReadonlySet<string> | null;
  /** Requests with this key must carry a Standard Webhooks signature made with this secret. */
  signingSecret: string | null;
}

export interface AccessOptions {
  store: AccessStore;
  /** Configured ingest keys (`CONFLUO_API_KEYS` or generated): `ingest` for every event. */
  apiKeys: readonly string[];
  /** Configured admin tokens: `read`, `operate` and `admin`. */
  adminTokens: readonly string[];
  /**
   * How long an answer about a stored key is reused: the most a revocation takes to reach every process.
   * @defaultValue 1000
   */
  cacheMs?: number;
  /**
   * A key's "last used" is written at most this often per process.
   * @defaultValue 60000
   */
  touchEveryMs?: number;
  /** Told when writing "last used" fails (authentication goes on). */
  onTouchError?: (error: unknown) => void;
  /** @defaultValue Date.now */
  clock?: () => number;
}

/**
 * SHA-256, hex. A fast hash is enough here: keys are 192 random bits, so there is no dictionary to
 * try and no slow hash would make guessing one any less hopeless; it keeps a lookup per request cheap.
 */
export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');

const CONFIGURED_KEY: Caller = { name: 'config:api-key', scopes: new Set(['ingest']), events: null, signingSecret: null };
const CONFIGURED_ADMIN: Caller = { name: 'config:admin-token', scopes: new Set(['read', 'operate', 'admin']), events: null, signingSecret: null };

/** The cache forgets everything when it grows past this many tokens (many random tokens must not grow memory). */
const MAX_CACHED = 10_000;

function callerOf(key: ApiKey): Caller {
  return { name: key.name, scopes: new Set(key.scopes), events: key.events && new Set(key.events), signingSecret: key.signingSecret };
}

export class Access {
  readonly #options: Required<Omit<AccessOptions, 'onTouchError'>> & Pick<AccessOptions, 'onTouchError'>;
  readonly #cache = new Map<string, { caller: Caller | undefined; keyId: string | undefined; until: number }>();
  readonly #touched = new Map<string, number>();

  constructor(options: AccessOptions) {
    this.#options = { cacheMs: 1000, touchEveryMs: 60_000, clock: Date.now, ...options };
  }

  /** The caller a token belongs to; undefined for no token, or one that is unknown or revoked. */
  async identify(token: string | undefined): Promise<Caller | undefined> {
    if (token === undefined || token.length === 0) return undefined;
    if (matchesAny(token, this.#options.adminTokens)) return CONFIGURED_ADMIN;
    if (matchesAny(token, this.#options.apiKeys)) return CONFIGURED_KEY;
    const now = this.#options.clock();
    let known = this.#cache.get(token);
    if (!known || known.until <= now) {
      // The lookup is by hash, an indexed equality: what it could leak through timing is about the hash, not the key.
      const key = await this.#options.store.findKey(hashKey(token));
      if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
      this.#cache.set(token, (known = { caller: key && callerOf(key), keyId: key?.id, until: now + this.#options.cacheMs }));
    }
    if (known.keyId !== undefined) this.#touch(known.keyId, now);
    return known.caller;
  }

  /** Drops cached answers: a key revoked in this process stops working at once. */
  forget(): void {
    this.#cache.clear();
  }

  #touch(keyId: string, now: number): void {
    const last = this.#touched.get(keyId);
    if (last !== undefined && now - last < this.#options.touchEveryMs) return;
    this.#touched.set(keyId, now);
    this.#options.store.touchKey(keyId, now).catch((error: unknown) => this.#options.onTouchError?.(error));
  }
}
