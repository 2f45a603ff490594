// Every error answer outside the events routes has the documented shape,
// `{ error: { code, message } }`, including the ones Fastify and Node raise
// before any route runs: a bad or too-long URL, headers too large, a body that
// is not JSON or too big, an unknown route. (The events routes answer such
// errors with envelopes; src/protocol/http.ts sets their own handler.)
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { sendError } from './api-error.js';

/** The stable code of an error answer with this status. */
function codeOf(status: number, fastifyCode: string | undefined): string {
  if (status === 400 && fastifyCode?.startsWith('FST_ERR_CTP')) return 'INVALID_BODY';
  const codes: Record<number, string> = {
    400: 'BAD_REQUEST',
    404: 'NOT_FOUND',
    405: 'METHOD_NOT_ALLOWED',
    408: 'REQUEST_TIMEOUT',
    413: 'BODY_TOO_LARGE',
    414: 'URL_TOO_LONG',
    415: 'UNSUPPORTED_MEDIA_TYPE',
    431: 'HEADERS_TOO_LARGE',
    503: 'UNAVAILABLE',
  };
  return codes[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST');
}

/** An error the request caused is answered with its own message; a failure of ours is logged and stays vague. */
function answer(reply: FastifyReply, log: Logger, error: FastifyError): FastifyReply {
  const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  if (status >= 500) {
    log.error({ err: error, url: reply.request.url }, 'request failed');
    return sendError(reply, status, codeOf(status, error.code), 'the request failed on our side; the log says why');
  }
  return sendError(reply, status, codeOf(status, error.code), error.message);
}

/** Answers for what Node's HTTP parser refuses (headers too large, a timeout, bytes that are not HTTP): no route ever sees these. */
function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', 'the request headers are larger than this server accepts']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'the request did not arrive in time']
        : [400, 'BAD_REQUEST', 'the request is not valid HTTP'];
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

/** Fastify options for the errors raised before routing (bad URL, too-long URL parameter, HTTP parser errors). */
export function frameworkErrorOptions(log: Logger): Pick<FastifyServerOptions, 'frameworkErrors' | 'clientErrorHandler'> {
  return {
    frameworkErrors: (error, _request, reply) => {
      const status = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : (error.statusCode ?? 400);
      return answer(reply, log, Object.assign(error, { statusCode: status }));
    },
    clientErrorHandler,
  };
}

/** The error and not-found handlers of the whole server (the events routes override the first for themselves). */
export function answerErrorsAsJson(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((error: FastifyError, _request, reply) => answer(reply, log, error));
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
}
