// Serves the events protocol over HTTP with Fastify: `POST /events` (one
// envelope) and `POST /events/bulk` (an array, one answer each). Always HTTP
// 200 with a response envelope, even for a body that is not JSON.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bearerToken } from '../security/secrets.js';
import { badProtocol, dispatch, dispatchMany, type DispatchOptions } from './dispatch.js';
import { responseEnvelope } from './envelope.js';

export interface EventsRouteOptions extends DispatchOptions {
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
}

const NOT_JSON = Symbol('not json');

function bearer(request: FastifyRequest): string | undefined {
  return bearerToken(request.headers.authorization);
}

export async function eventsRoutes(app: FastifyInstance, options: EventsRouteOptions): Promise<void> {
  const maxBulk = options.maxBulk ?? 10_000;
  // Parse JSON ourselves so a malformed body still gets an envelope answer, not HTTP 400.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
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
    return reply.code(200).send(request.url.startsWith('/events/bulk') ? [answer] : answer);
  });

  const single = async (request: FastifyRequest) => {
    if (request.body === NOT_JSON || request.body === undefined) return badProtocol(undefined, '(body)', 'the body is not valid JSON');
    return dispatch(request.body, bearer(request), options);
  };
  const singleOptions = { bodyLimit: options.bodyLimit ?? 1024 * 1024 };
  app.post('/events', singleOptions, single);
  app.post('/events/', singleOptions, single);

  app.post('/events/bulk', { bodyLimit: options.bulkBodyLimit ?? 32 * 1024 * 1024 }, async (request, reply) => {
    const body = request.body;
    if (!Array.isArray(body)) return [badProtocol(undefined, '(body)', 'a bulk request is a JSON array of envelopes')];
    if (body.length > maxBulk) return [badProtocol(undefined, '(body)', `a bulk request carries at most ${maxBulk} envelopes, got ${body.length}`)];
    const token = bearer(request);
    // One request carries one set of credentials, mostly: check each distinct token once, not per envelope.
    const checked = new Map<string | undefined, boolean>();
    const authenticate = (candidate: string | undefined) => {
      let ok = checked.get(candidate);
      if (ok === undefined) checked.set(candidate, (ok = options.authenticate(candidate)));
      return ok;
    };
    const answers = await dispatchMany(body, token, { ...options, authenticate });
    // Serialised here, once, to bytes: given the string, Fastify would scan it again for its
    // length and Node encode it again on write (a thousand answers are about 180 KB).
    return reply.type('application/json; charset=utf-8').send(Buffer.from(JSON.stringify(answers)));
  });
}
