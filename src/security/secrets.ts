// Comparing and minting credentials.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time equality, whatever the lengths. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Digests of each configured list of secrets, made once: every request is checked against them. */
const secretDigests = new WeakMap<readonly string[], Buffer[]>();

export function matchesAny(candidate: string | undefined, secrets: readonly string[]): boolean {
  if (candidate === undefined || candidate.length === 0) return false;
  let known = secretDigests.get(secrets);
  if (!known) secretDigests.set(secrets, (known = secrets.map(digest)));
  const presented = digest(candidate);
  let found = false;
  for (const secret of known) found = timingSafeEqual(presented, secret) || found;
  return found;
}

export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/** The bearer token of an `Authorization` header, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
