// What a caller may do on the events routes: the Grant the protocol server
// asks for, from the caller's scopes, its event list and, for a key that signs
// its requests, a valid fresh signature over the exact body.
import type { Grant } from '../protocol/dispatch.js';
import type { EventsRequest } from '../protocol/http.js';
import type { Access } from './access.js';
import type { SignatureCheck } from './signature-check.js';

const NOTHING: Grant = { allows: () => false };

export function eventsGrant(access: Access, signatures: SignatureCheck): (token: string | undefined, request: EventsRequest) => Promise<Grant> {
  return async (token, request) => {
    const caller = await access.identify(token);
    if (!caller) return false;
    if (caller.signingSecret !== null) {
      const problem = signatures.verify(caller.name, caller.signingSecret, request.headers, request.body);
      if (problem !== undefined) return { refused: problem };
    }
    if (!caller.scopes.has('ingest')) return NOTHING;
    const events = caller.events;
    return events === null ? true : { allows: (name) => events.has(name) };
  };
}
