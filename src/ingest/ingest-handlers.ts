// Registers one events-protocol handler per event type of the flow. Each one
// validates the payload (via the registry), derives the entity key, commits the
// event to the inbox and answers `accepted` or `duplicate`; with
// `metadata.wait: true` it answers after the rule ran, within a bounded wait.
import type { Flow } from '../flow/flow.js';
import { KeyError } from '../flow/entity.js';
import type { EventResult } from '../engine/outcomes.js';
import { EventError } from '../protocol/event-error.js';
import { badIdentifier, LIMITS } from '../protocol/limits.js';
import { respond, type HandlerRegistry, type HandlerRequest, type HandlerResult } from '../protocol/registry.js';
import type { AcceptOutcome, NewInboxEvent } from '../store/types.js';
import type { Admission } from './admission.js';
import type { InboxWriter } from './inbox-writer.js';

export interface IngestOptions {
  /**
   * Longest `metadata.wait` answer delay; past it the answer is `accepted` with `waitTimedOut: true`.
   * @defaultValue 10000
   */
  waitTimeoutMs?: number;
  /**
   * Most events waiting to be applied; past it new events are refused with `:error` `OVERLOADED`
   * (and `retryAfterMs`), nothing stored. See `Admission`.
   * @defaultValue none (no limit)
   */
  maxBacklog?: number;
}

export interface IngestDeps {
  flow: Flow;
  registry: HandlerRegistry;
  inbox: InboxWriter;
  waitFor: (eventId: string, timeoutMs: number) => Promise<EventResult | undefined>;
  /** Refuses events past the backlog limit, when there is one. */
  admission?: Admission;
  clock?: () => number;
}

export function describeResult(result: EventResult): Record<string, unknown> {
  return result.status === 'processed'
    ? { status: 'processed', eventId: result.eventId, ...result.result }
    : { status: 'parked', eventId: result.eventId, entity: result.entity, key: result.key, error: result.error };
}

export function registerIngestHandlers(deps: IngestDeps, options: IngestOptions = {}): void {
  const waitTimeoutMs = options.waitTimeoutMs ?? 10_000;
  const clock = deps.clock ?? Date.now;
  for (const type of deps.flow.events.values()) {
    const toInbox = (request: HandlerRequest<unknown>): NewInboxEvent => {
      let key: string;
      try {
        key = type.entity.formatKey(type.key(request.payload));
      } catch (error) {
        if (error instanceof KeyError) {
          throw new EventError('badRequest', 'INVALID_PAYLOAD', { fields: [{ name: error.field, message: error.message, errorType: 'invalid_key' }] });
        }
        throw error;
      }
      const problem = badIdentifier(key, LIMITS.maxKeyLength);
      if (problem) {
        const from = type.entity.keyFields.join(', ');
        throw new EventError('badRequest', 'INVALID_PAYLOAD', { fields: [{ name: from, message: `the ${type.entity.name} key made from ${from} ${problem}`, errorType: 'invalid_key' }] });
      }
      return {
        eventId: request.id,
        name: type.name,
        version: type.version,
        flowId: request.flowId,
        entity: type.entity.name,
        key,
        // Kept as received, minus credentials (auth): the rule re-validates the raw payload.
        envelope: { name: request.name, version: request.version, id: request.id, flowId: request.flowId, identity: request.identity, metadata: request.metadata, payload: request.rawPayload },
        acceptedAt: clock(),
      };
    };
    const answer = (request: HandlerRequest<unknown>, outcome: AcceptOutcome): HandlerResult | Promise<HandlerResult> => {
      if (outcome.status === 'duplicate') return respond({ status: 'duplicate', eventId: request.id });
      if (request.metadata.wait !== true) return respond({ status: 'accepted', eventId: request.id });
      return deps.waitFor(request.id, waitTimeoutMs).then((result) => respond(result ? describeResult(result) : { status: 'accepted', eventId: request.id, waitTimedOut: true }));
    };

    deps.registry.register({
      name: type.name,
      version: type.version,
      payload: type.payload,
      async handle(request): Promise<HandlerResult> {
        const event = toInbox(request);
        if (deps.admission?.admit(1) === 0) throw deps.admission.overloaded();
        return answer(request, await deps.inbox.submit(event));
      },
      // A bulk request's events of this type: one submit, so one commit and one waiter for them all.
      async handleMany(requests): Promise<Array<HandlerResult | Error>> {
        const outcomes = new Array<HandlerResult | Error>(requests.length);
        const events: NewInboxEvent[] = [];
        const submitted: number[] = [];
        requests.forEach((request, i) => {
          try {
            events.push(toInbox(request));
            submitted.push(i);
          } catch (error) {
            outcomes[i] = error instanceof Error ? error : new Error(String(error));
          }
        });
        const room = deps.admission ? deps.admission.admit(events.length) : events.length;
        for (const i of submitted.splice(room)) outcomes[i] = deps.admission!.overloaded();
        const accepted = await deps.inbox.submitMany(events.slice(0, room));
        const waits: Array<Promise<unknown>> = [];
        submitted.forEach((i, n) => {
          const outcome = accepted[n] as AcceptOutcome | Error;
          if (outcome instanceof Error) {
            outcomes[i] = outcome;
            return;
          }
          const result = answer(requests[i] as HandlerRequest<unknown>, outcome);
          if (result instanceof Promise) waits.push(result.then((r) => (outcomes[i] = r)));
          else outcomes[i] = result;
        });
        await Promise.all(waits);
        return outcomes;
      },
    });
  }
}
