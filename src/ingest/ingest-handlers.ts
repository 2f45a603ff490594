// Registers one events-protocol handler per event type of the flow. Each one
// validates the payload (via the registry), derives the entity key, commits the
// event to the inbox and answers `accepted` or `duplicate`; with
// `metadata.wait: true` it answers after the rule ran, within a bounded wait.
import type { Flow } from '../flow/flow.js';
import { KeyError } from '../flow/entity.js';
import type { EventResult } from '../engine/outcomes.js';
import { EventError } from '../protocol/event-error.js';
import { respond, type HandlerRegistry, type HandlerResult } from '../protocol/registry.js';
import type { InboxWriter } from './inbox-writer.js';

export interface IngestOptions {
  /**
   * Longest `metadata.wait` answer delay; past it the answer is `accepted` with `waitTimedOut: true`.
   * @defaultValue 10000
   */
  waitTimeoutMs?: number;
}

export interface IngestDeps {
  flow: Flow;
  registry: HandlerRegistry;
  inbox: InboxWriter;
  waitFor: (eventId: string, timeoutMs: number) => Promise<EventResult | undefined>;
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
    deps.registry.register({
      name: type.name,
      version: type.version,
      payload: type.payload,
      async handle(request): Promise<HandlerResult> {
        let key: string;
        try {
          key = type.entity.formatKey(type.key(request.payload));
        } catch (error) {
          if (error instanceof KeyError) {
            throw new EventError('badRequest', 'INVALID_PAYLOAD', { fields: [{ name: error.field, message: error.message, errorType: 'invalid_key' }] });
          }
          throw error;
        }
        // Kept as received, minus credentials: the rule re-validates the raw payload.
        const { auth: _auth, rawPayload, payload: _parsed, ...context } = request;
        const envelope = { ...context, payload: rawPayload };
        const outcome = await deps.inbox.submit({
          eventId: request.id,
          name: type.name,
          version: type.version,
          flowId: request.flowId,
          entity: type.entity.name,
          key,
          envelope,
          acceptedAt: clock(),
        });
        if (outcome.status === 'duplicate') return respond({ status: 'duplicate', eventId: request.id });
        if (request.metadata.wait !== true) return respond({ status: 'accepted', eventId: request.id });
        const result = await deps.waitFor(request.id, waitTimeoutMs);
        return respond(result ? describeResult(result) : { status: 'accepted', eventId: request.id, waitTimedOut: true });
      },
    });
  }
}
