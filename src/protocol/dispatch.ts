// One request envelope in, one response envelope out, whatever happens: the
// transport-free heart of the events-protocol server.
import type { Logger } from 'pino';
import { describeIssues } from '../validation/field-issues.js';
import { requestEnvelopeSchema, responseEnvelope, type ErrorPayload, type ResponseEnvelope } from './envelope.js';
import { EventError } from './event-error.js';
import type { HandlerRegistry } from './registry.js';

export interface DispatchOptions {
  registry: HandlerRegistry;
  /** True when the token is a valid API key. */
  authenticate: (token: string | undefined) => boolean;
  log: Logger;
}

const errorPayload = (code: string, parameters: Record<string, unknown> = {}): ErrorPayload => ({ code, parameters });

/** The string fields of a request we could not validate, so the answer still carries its id and flowId. */
function salvage(raw: unknown): { id?: string; flowId?: string } {
  if (raw === null || typeof raw !== 'object') return {};
  const { id, flowId } = raw as Record<string, unknown>;
  return { ...(typeof id === 'string' && id ? { id } : {}), ...(typeof flowId === 'string' && flowId ? { flowId } : {}) };
}

export function badProtocol(raw: unknown, propertyName: string, message: string): ResponseEnvelope {
  return responseEnvelope({ name: 'badProtocol', version: 1, ...salvage(raw) }, null, errorPayload('INVALID_COMMUNICATION_PROTOCOL', { propertyName, message }));
}

export async function dispatch(raw: unknown, headerToken: string | undefined, options: DispatchOptions): Promise<ResponseEnvelope> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return badProtocol(raw, '(envelope)', 'the body must be a JSON object');
  }
  const parsed = requestEnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return badProtocol(raw, String(issue?.path[0] ?? '(envelope)'), issue?.message ?? 'invalid envelope');
  }
  const request = parsed.data;
  const token = headerToken ?? (typeof request.auth.token === 'string' ? request.auth.token : undefined);
  const authenticated = options.authenticate(token);
  const handler = options.registry.find(request.name, request.version);

  if (!handler && authenticated) {
    return responseEnvelope({ name: 'eventNotFound', version: 1, id: request.id, flowId: request.flowId }, null, errorPayload('NO_EVENT_HANDLER_FOUND', { event: request.name, version: request.version }));
  }
  if (!handler || (!handler.public && !authenticated)) {
    const reason = token === undefined ? 'missing credentials: send Authorization: Bearer <key> or auth.token' : 'the key is not valid';
    return responseEnvelope(request, 'unauthorized', errorPayload('UNAUTHORIZED', { message: reason }));
  }

  const payload = handler.payload.safeParse(request.payload);
  if (!payload.success) {
    return responseEnvelope(request, 'badRequest', errorPayload('INVALID_PAYLOAD', { fields: describeIssues(payload.error.issues) }));
  }
  try {
    const result = await handler.handle({ ...request, payload: payload.data, rawPayload: request.payload });
    return result.kind === 'response'
      ? responseEnvelope(request, 'response', result.payload)
      : responseEnvelope(request, 'redirect', { url: result.url, queryParameters: result.queryParameters });
  } catch (error) {
    if (error instanceof EventError) return responseEnvelope(request, error.type, errorPayload(error.code, error.parameters));
    options.log.error({ err: error, eventId: request.id, flowId: request.flowId, event: request.name }, 'event handler failed');
    return responseEnvelope(request, 'error', errorPayload('UNHANDLED_ERROR'));
  }
}
