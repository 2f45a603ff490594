// The read API's error answer: an HTTP status and `{ error: { code, message, details? } }`.
import type { FastifyReply } from 'fastify';

export function sendError(reply: FastifyReply, status: number, code: string, message: string, details?: Record<string, unknown>) {
  return reply.code(status).send({ error: { code, message, ...(details ? { details } : {}) } });
}
