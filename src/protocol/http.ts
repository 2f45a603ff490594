// Serves the events protocol over HTTP with Fastify: `POST /events` (one
// envelope) and `POST /events/bulk` (an array, one answer each). Always HTTP
// 200 with a response envelope, even for a body that is not JSON.
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { adoptTraceparentHeader } from '../observability/trace-context.js';
import { bearerToken } from '../security/secrets.js';
import { badProtocol, dispatch, dispatchMany, type DispatchOptions, type Grant } from './dispatch.js';
import { responseEnvelope, type ResponseEnvelope } from './envelope.js';

/** The HTTP request a credential came with, for checks over the exact bytes sent (a signature). */
export interface EventsRequest {
  headers: IncomingHttpHeaders;
  /** The body as received, before parsing. */
  body: string;
}

export interface EventsRouteOptions extends Omit<DispatchOptions, 'authenticate'> {
  /** What the token may do; called once per distinct token of a request. */
  authenticate: (token: string | undefined, request: EventsRequest) => Grant | Promise<Grant>;
  /**
   * Most envelopes one bulk request may carry.
   * @defaultValue 10000
   */
  maxBulk?: number;
  /**
   * Largest body accepted, in bytes.
   * @defaultValue 1 MiB for one envelope, 32 MiB for bulk
   */
  bodyLimit?: number;
  bulkBodyLimit?: number;
  /** Told every answer sent, one per envelope (including refusals of the whole body), e.g. for metrics. */
  onAnswers?: (answers: readonly ResponseEnvelope[]) => void;
}

const NOT_JSON = Symbol('not json');

/** Each request's body text, kept by the parser for `authenticate` (the text exists anyway: no copy). */
const rawBodies = new WeakMap<FastifyRequest, string>();

function bearer(request: FastifyRequest): string | undefined {
  return bearerToken(request.headers.authorization);
}

/** The dispatch options of one request: its credentials are checked against this request's headers and bytes. */
function forRequest(options: EventsRouteOptions, request: FastifyRequest): DispatchOptions {
  const seen: EventsRequest = { headers: request.headers, body: rawBodies.get(request) ?? '' };
  return { registry: options.registry, log: options.log, authenticate: (token) => options.authenticate(token, seen) };
}

export async function eventsRoutes(app: FastifyInstance, options: EventsRouteOptions): Promise<void> {
  const maxBulk = options.maxBulk ?? 10_000;
  const onAnswers = options.onAnswers ?? (() => undefined);
  const told = <T extends ResponseEnvelope | ResponseEnvelope[]>(answer: T): T => {
    onAnswers(Array.isArray(answer) ? answer : [answer]);
    return answer;
  };
  // Parse JSON ourselves so a malformed body still gets an envelope answer, not HTTP 400.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    rawBodies.set(request, body as string);
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(null, NOT_JSON);
    }
  });

  // Errors Fastify raises before a handler runs (body too large, aborted upload) still get an envelope.
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) options.log.error({ err: error }, 'events route failed');
    const message = error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `the body is larger than ${request.routeOptions.bodyLimit} bytes` : error.message;
    const answer = status >= 500 ? responseEnvelope({ name: 'error', version: 1 }, null, { code: 'UNHANDLED_ERROR', parameters: {} }) : badProtocol(undefined, '(body)', message);
    return reply.code(200).send(told(request.url.startsWith('/events/bulk') ? [answer] : answer));
  });

  const single = async (request: FastifyRequest) => {
    if (request.body === NOT_JSON || request.body === undefined) return told(badProtocol(undefined, '(body)', 'the body is not valid JSON'));
    // W3C trace context: the header wins over the envelope's own metadata.traceparent.
    adoptTraceparentHeader(request.body, request.headers.traceparent, false);
    return told(await dispatch(request.body, bearer(request), forRequest(options, request)));
  };
  const singleOptions = { bodyLimit: options.bodyLimit ?? 1024 * 1024 };
  app.post('/events', singleOptions, single);
  app.post('/events/', singleOptions, single);

  app.post('/events/bulk', { bodyLimit: options.bulkBodyLimit ?? 32 * 1024 * 1024 }, async (request, reply) => {
    const body = request.body;
    if (!Array.isArray(body)) return told([badProtocol(undefined, '(body)', 'a bulk request is a JSON array of envelopes')]);
    if (body.length > maxBulk) return told([badProtocol(undefined, '(body)', `a bulk request carries at most ${maxBulk} envelopes, got ${body.length}`)]);
    // In bulk, each envelope's own valid metadata.traceparent wins; the header covers the others.
    const traceparent = request.headers.traceparent;
    if (traceparent !== undefined) for (const raw of body) adoptTraceparentHeader(raw, traceparent, true);
    const answers = told(await dispatchMany(body, bearer(request), forRequest(options, request)));
    // Serialised here, once, to bytes: given the string, Fastify would scan it again for its
    // length and Node encode it again on write (a thousand answers are about 180 KB).
    return reply.type('application/json; charset=utf-8').send(Buffer.from(JSON.stringify(answers)));
  });
}
