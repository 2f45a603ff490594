// Registers one events-protocol handler per event type of the flow. Each one
// validates the payload (via the registry), derives the entity key, commits the
// event to the inbox and answers `accepted` or `duplicate`; with
// `metadata.wait: true` it answers after the rule ran, within a bounded wait.
import type { Flow } from '../flow/flow.js';
import type { AcceptOutcome as SpanOutcome, Tracing } from '../observability/tracing.js';
import { KeyError } from '../flow/entity.js';
import type { RecordAddress } from '../flow/event-type.js';
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
  /** Opens an accept span per event (OpenTelemetry, when on); the event keeps its context. */
  tracing?: Pick<Tracing, 'accept'>;
  clock?: () => number;
}

/** How an accept span ends when its event was not stored. */
const spanOutcomeOf = (error: unknown): SpanOutcome => (error instanceof EventError ? 'refused' : 'failed');

export function describeResult(result: EventResult): Record<string, unknown> {
  return result.status === 'processed'
    ? { status: 'processed', eventId: result.eventId, ...result.result }
    : { status: 'parked', eventId: result.eventId, entity: result.entity, key: result.key, error: result.error };
}

export function registerIngestHandlers(deps: IngestDeps, options: IngestOptions = {}): void {
  const waitTimeoutMs = options.waitTimeoutMs ?? 10_000;
  const clock = deps.clock ?? Date.now;
  for (const type of deps.flow.events.values()) {
    /** `traceparent`: the accept span's context, kept in place of the one the event came with. */
    const toInbox = (request: HandlerRequest<unknown>, traceparent: string | undefined): NewInboxEvent => {
      let address: RecordAddress;
      try {
        address = type.address(request.payload);
      } catch (error) {
        if (error instanceof KeyError) {
          throw new EventError('badRequest', 'INVALID_PAYLOAD', { fields: [{ name: error.field, message: error.message, errorType: 'invalid_key' }] });
        }
        throw error;
      }
      const { key, route } = address;
      const problem = badIdentifier(key, LIMITS.maxKeyLength);
      if (problem) {
        const from = route ? route.identifier : type.entity.keyFields.join(', ');
        throw new EventError('badRequest', 'INVALID_PAYLOAD', { fields: [{ name: from, message: `the ${type.entity.name} key made from ${from} ${problem}`, errorType: 'invalid_key' }] });
      }
      return {
        eventId: request.id,
        name: type.name,
        version: type.version,
        flowId: request.flowId,
        entity: type.entity.name,
        key,
        ...(route ? { route } : {}),
        // Kept as received, minus credentials (auth): the rule re-validates the raw payload.
        envelope: {
          name: request.name,
          version: request.version,
          id: request.id,
          flowId: request.flowId,
          identity: request.identity,
          metadata: traceparent === undefined ? request.metadata : { ...request.metadata, traceparent },
          payload: request.rawPayload,
        },
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
        const span = deps.tracing?.accept(request);
        try {
          const event = toInbox(request, span?.traceparent);
          if (deps.admission?.admit(1) === 0) throw deps.admission.overloaded();
          const outcome = await deps.inbox.submit(event);
          span?.end(outcome.status);
          return answer(request, outcome);
        } catch (error) {
          span?.end(spanOutcomeOf(error));
          throw error;
        }
      },
      // A bulk request's events of this type: one submit, so one commit and one waiter for them all.
      async handleMany(requests): Promise<Array<HandlerResult | Error>> {
        const outcomes = new Array<HandlerResult | Error>(requests.length);
        const events: NewInboxEvent[] = [];
        const submitted: number[] = [];
        const spans = deps.tracing ? requests.map((request) => deps.tracing!.accept(request)) : undefined;
        requests.forEach((request, i) => {
          try {
            events.push(toInbox(request, spans?.[i]?.traceparent));
            submitted.push(i);
          } catch (error) {
            outcomes[i] = error instanceof Error ? error : new Error(String(error));
            spans?.[i]?.end(spanOutcomeOf(error));
          }
        });
        const room = deps.admission ? deps.admission.admit(events.length) : events.length;
        for (const i of submitted.splice(room)) {
          outcomes[i] = deps.admission!.overloaded();
          spans?.[i]?.end('refused');
        }
        let accepted: Array<AcceptOutcome | Error>;
        try {
          accepted = await deps.inbox.submitMany(events.slice(0, room));
        } catch (error) {
          for (const i of submitted) spans?.[i]?.end('failed');
          throw error;
        }
        const waits: Array<Promise<unknown>> = [];
        submitted.forEach((i, n) => {
          const outcome = accepted[n] as AcceptOutcome | Error;
          spans?.[i]?.end(outcome instanceof Error ? 'failed' : outcome.status);
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
