// Inbound Standard Webhooks signatures: an HMAC over `id.timestamp.body` with
// the key's secret. `standardwebhooks` refuses a bad signature and a timestamp
// more than five minutes off; this adds the replay check: a message id is
// accepted once while its timestamp is still within that window.
import { Webhook } from 'standardwebhooks';
import type { IncomingHttpHeaders } from 'node:http';

/** How far a timestamp may be from now (the `standardwebhooks` tolerance): a message id is remembered twice as long. */
const TOLERANCE_MS = 5 * 60_000;

const header = (headers: IncomingHttpHeaders, name: string): string => {
  const value = headers[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
};

export class SignatureCheck {
  /** `<key name>\0<message id>` → when it may be forgotten; insertion order is expiry order. */
  readonly #seen = new Map<string, number>();
  readonly #verifiers = new Map<string, Webhook>();
  readonly #clock: () => number;

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  /** Undefined when the request is signed with `secret`, fresh and not seen before; otherwise why not. */
  verify(keyName: string, secret: string, headers: IncomingHttpHeaders, body: string): string | undefined {
    let verifier = this.#verifiers.get(secret);
    if (!verifier) this.#verifiers.set(secret, (verifier = new Webhook(secret)));
    const signed = { 'webhook-id': header(headers, 'webhook-id'), 'webhook-timestamp': header(headers, 'webhook-timestamp'), 'webhook-signature': header(headers, 'webhook-signature') };
    try {
      verifier.verify(body, signed, { jsonParse: false });
    } catch (error) {
      return `this key signs its requests (Standard Webhooks): ${(error as Error).message}`;
    }
    const now = this.#clock();
    for (const [id, until] of this.#seen) {
      if (until > now) break;
      this.#seen.delete(id);
    }
    const id = `${keyName}\u0000${signed['webhook-id']}`;
    if (this.#seen.has(id)) return `this key signs its requests (Standard Webhooks): message ${signed['webhook-id']} was already received`;
    this.#seen.set(id, now + 2 * TOLERANCE_MS);
    return undefined;
  }
}
