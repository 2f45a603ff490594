// One request envelope in, one response envelope out, whatever happens: the
// transport-free heart of the events-protocol server.
import type { Logger } from 'pino';
import type { z } from 'zod';
import { describeIssues } from '../validation/field-issues.js';
import { orEmpty, responseEnvelope, wireEnvelopeSchema, type ErrorPayload, type ResponseEnvelope } from './envelope.js';
import { EventError } from './event-error.js';
import { badIdentifier, checkJsonValue, LIMITS } from './limits.js';
import type { EventHandler, HandlerRegistry, HandlerRequest, HandlerResult } from './registry.js';

/**
 * What a credential may do: `false` when it is missing or not valid (answered `:unauthorized`),
 * `{ refused }` the same with the reason given, `true` send any event, `{ allows }` send the
 * events it allows (a valid credential sending another gets `:forbidden`).
 */
export type Grant = boolean | { allows: (eventName: string) => boolean } | { refused: string };

export interface DispatchOptions {
  registry: HandlerRegistry;
  /** What the token may do; called once per distinct token of a request, before any envelope is routed. */
  authenticate: (token: string | undefined) => Grant | Promise<Grant>;
  log: Logger;
}

const errorPayload = (code: string, parameters: Record<string, unknown> = {}): ErrorPayload => ({ code, parameters });

/** The id and flowId of a request we could not validate, so the answer still carries them (when they are fit to echo). */
function salvage(raw: unknown): { id?: string; flowId?: string } {
  if (raw === null || typeof raw !== 'object') return {};
  const { id, flowId } = raw as Record<string, unknown>;
  const fit = (value: unknown): value is string => typeof value === 'string' && value !== '' && badIdentifier(value, LIMITS.maxIdLength) === undefined;
  return { ...(fit(id) ? { id } : {}), ...(fit(flowId) ? { flowId } : {}) };
}

/** The first envelope property outside the limits at the door (limits.ts), as a badProtocol answer's parameters. */
function envelopeProblem(envelope: z.output<typeof wireEnvelopeSchema>): { propertyName: string; message: string } | undefined {
  for (const property of ['id', 'flowId', 'name'] as const) {
    const problem = badIdentifier(envelope[property], LIMITS.maxIdLength);
    if (problem) return { propertyName: property, message: `${property} ${problem}` };
  }
  for (const property of ['identity', 'metadata'] as const) {
    const issue = checkJsonValue(envelope[property]);
    if (issue) return { propertyName: property, message: `${[property, issue.path].filter(Boolean).join('.')} ${issue.message}` };
  }
  return undefined;
}

export function badProtocol(raw: unknown, propertyName: string, message: string): ResponseEnvelope {
  return responseEnvelope({ name: 'badProtocol', version: 1, ...salvage(raw) }, null, errorPayload('INVALID_COMMUNICATION_PROTOCOL', { propertyName, message }));
}

/** The credential an envelope carries: the request's header, or else its own `auth.token`. */
function tokenOf(raw: unknown, headerToken: string | undefined): string | undefined {
  if (headerToken !== undefined || raw === null || typeof raw !== 'object') return headerToken;
  const auth = (raw as { auth?: unknown }).auth;
  const token = auth !== null && typeof auth === 'object' ? (auth as { token?: unknown }).token : undefined;
  return typeof token === 'string' ? token : undefined;
}

/** Each distinct credential of these envelopes, authenticated once (one per request, mostly). */
async function grantsOf(raws: readonly unknown[], headerToken: string | undefined, authenticate: DispatchOptions['authenticate']): Promise<Map<string | undefined, Grant>> {
  const tokens = headerToken === undefined ? new Set(raws.map((raw) => tokenOf(raw, undefined))) : new Set([headerToken]);
  const grants = new Map<string | undefined, Grant>();
  await Promise.all([...tokens].map(async (token) => grants.set(token, await authenticate(token))));
  return grants;
}

/** A request that passed the envelope, credential and payload checks, and the handler it goes to. */
interface Routed {
  handler: EventHandler;
  request: HandlerRequest<unknown>;
}

/** Validates one envelope and finds its handler; an answer when it goes no further. */
function route(raw: unknown, headerToken: string | undefined, grants: ReadonlyMap<string | undefined, Grant>, options: DispatchOptions): Routed | ResponseEnvelope {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return badProtocol(raw, '(envelope)', 'the body must be a JSON object');
  }
  const parsed = wireEnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return badProtocol(raw, String(issue?.path[0] ?? '(envelope)'), issue?.message ?? 'invalid envelope');
  }
  const envelope = parsed.data;
  const problem = envelopeProblem(envelope);
  if (problem) return badProtocol(raw, problem.propertyName, problem.message);
  const auth = orEmpty(envelope.auth);
  const token = tokenOf(envelope, headerToken);
  const grant = grants.get(token) ?? false;
  const authenticated = grant === true || (typeof grant === 'object' && 'allows' in grant);
  const handler = options.registry.find(envelope.name, envelope.version);

  if (!handler && authenticated) {
    return responseEnvelope({ name: 'eventNotFound', version: 1, id: envelope.id, flowId: envelope.flowId }, null, errorPayload('NO_EVENT_HANDLER_FOUND', { event: envelope.name, version: envelope.version }));
  }
  if (!handler || (!handler.public && !authenticated)) {
    const reason =
      typeof grant === 'object' && 'refused' in grant ? grant.refused : token === undefined ? 'missing credentials: send Authorization: Bearer <key> or auth.token' : 'the key is not valid';
    return responseEnvelope(envelope, 'unauthorized', errorPayload('UNAUTHORIZED', { message: reason }));
  }
  if (!handler.public && typeof grant === 'object' && 'allows' in grant && !grant.allows(envelope.name)) {
    return responseEnvelope(envelope, 'forbidden', errorPayload('FORBIDDEN', { message: `this key may not send ${envelope.name}` }));
  }

  // Before the schema: it may walk the payload recursively, and a schema may let through what no store can keep.
  const content = checkJsonValue(envelope.payload);
  if (content) {
    return responseEnvelope(envelope, 'badRequest', errorPayload('INVALID_PAYLOAD', { fields: [{ name: content.path || '(root)', message: content.message, errorType: content.errorType }] }));
  }
  const payload = handler.payload.safeParse(envelope.payload);
  if (!payload.success) {
    return responseEnvelope(envelope, 'badRequest', errorPayload('INVALID_PAYLOAD', { fields: describeIssues(payload.error.issues) }));
  }
  // Built field by field: a spread copies the envelope per event, which shows on the bulk path.
  const request: HandlerRequest<unknown> = {
    name: envelope.name,
    version: envelope.version,
    id: envelope.id,
    flowId: envelope.flowId,
    payload: payload.data,
    rawPayload: envelope.payload,
    identity: orEmpty(envelope.identity),
    auth,
    metadata: orEmpty(envelope.metadata),
  };
  return { handler, request };
}

function answered(request: HandlerRequest<unknown>, result: HandlerResult): ResponseEnvelope {
  return result.kind === 'response'
    ? responseEnvelope(request, 'response', result.payload)
    : responseEnvelope(request, 'redirect', { url: result.url, queryParameters: result.queryParameters });
}

/** The answer to a failure already logged: `:error` without details. */
const UNHANDLED = new EventError('error', 'UNHANDLED_ERROR');

/** An EventError answers as its type; anything else is logged and answers `:error` without details. */
function failed(request: HandlerRequest<unknown>, error: unknown, log: Logger): ResponseEnvelope {
  if (error instanceof EventError) return responseEnvelope(request, error.type, errorPayload(error.code, error.parameters));
  log.error({ err: error, eventId: request.id, flowId: request.flowId, event: request.name }, 'event handler failed');
  return responseEnvelope(request, 'error', errorPayload('UNHANDLED_ERROR'));
}

async function handleOne({ handler, request }: Routed, log: Logger): Promise<ResponseEnvelope> {
  try {
    return answered(request, await handler.handle(request));
  } catch (error) {
    return failed(request, error, log);
  }
}

export async function dispatch(raw: unknown, headerToken: string | undefined, options: DispatchOptions): Promise<ResponseEnvelope> {
  const routed = route(raw, headerToken, await grantsOf([raw], headerToken, options.authenticate), options);
  return 'handler' in routed ? handleOne(routed, options.log) : routed;
}

/**
 * Many envelopes in, one answer each, in order: what a bulk request gets. A run of envelopes
 * for one handler with `handleMany` reaches it in one call (for the ingest handlers: one
 * group-commit submit instead of a promise per event). Handlers are called in the envelopes'
 * order, as `dispatch` one by one would, so the inbox takes the events in the request's order.
 */
export async function dispatchMany(raws: readonly unknown[], headerToken: string | undefined, options: DispatchOptions): Promise<ResponseEnvelope[]> {
  const answers = new Array<ResponseEnvelope>(raws.length);
  const runs: Array<{ handler: EventHandler; at: number[]; requests: Array<HandlerRequest<unknown>> }> = [];
  const grants = await grantsOf(raws, headerToken, options.authenticate);
  raws.forEach((raw, at) => {
    const routed = route(raw, headerToken, grants, options);
    if (!('handler' in routed)) {
      answers[at] = routed;
      return;
    }
    const last = runs.at(-1);
    if (last?.handler === routed.handler && routed.handler.handleMany) {
      last.at.push(at);
      last.requests.push(routed.request);
    } else {
      runs.push({ handler: routed.handler, at: [at], requests: [routed.request] });
    }
  });
  await Promise.all(
    runs.map(async ({ handler, at, requests }) => {
      if (!handler.handleMany) {
        answers[at[0] as number] = await handleOne({ handler, request: requests[0] as HandlerRequest<unknown> }, options.log);
        return;
      }
      let outcomes: Array<HandlerResult | Error>;
      try {
        outcomes = await handler.handleMany(requests);
      } catch (error) {
        // The whole call failed (say, the commit rolled back): each of its requests answers so, logged once.
        if (!(error instanceof EventError)) options.log.error({ err: error, eventId: requests[0]?.id, flowId: requests[0]?.flowId, event: handler.name, events: requests.length }, 'event handler failed');
        const quiet = error instanceof EventError ? error : UNHANDLED;
        requests.forEach((request, i) => (answers[at[i] as number] = failed(request, quiet, options.log)));
        return;
      }
      // Events that failed alone (say, one the store could not write): logged once for the run, not once each.
      const unhandled: Array<{ request: HandlerRequest<unknown>; error: Error }> = [];
      requests.forEach((request, i) => {
        const outcome = outcomes[i] ?? new Error(`handleMany of ${handler.name} returned ${outcomes.length} results for ${requests.length} requests`);
        if (outcome instanceof Error && !(outcome instanceof EventError)) unhandled.push({ request, error: outcome });
        answers[at[i] as number] = outcome instanceof Error ? failed(request, outcome instanceof EventError ? outcome : UNHANDLED, options.log) : answered(request, outcome);
      });
      const first = unhandled[0];
      if (first) options.log.error({ err: first.error, eventId: first.request.id, flowId: first.request.flowId, event: handler.name, failed: unhandled.length }, 'event handler failed');
    }),
  );
  return answers;
}
