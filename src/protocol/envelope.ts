// The events-protocol envelope (GuiaBolso), as zod schemas: one request in, one
// response out, eight camelCase fields each. Compatible with the Kotlin and
// Python implementations: `identity`, `auth` and `metadata` may be absent or
// null (Python clients send null), and are always objects in what we send.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

const objectOrNull = z.record(z.string(), z.unknown()).nullish();

/**
 * The envelope as it may arrive: `identity`, `auth` and `metadata` may still be null or absent.
 * The server validates with this one and fills the empty objects itself (`orEmpty`): a zod
 * transform costs about a microsecond per envelope, a third of the bulk path's validation.
 */
export const wireEnvelopeSchema = z.object({
  name: z.string().min(1),
  version: z.number().int(),
  id: z.string().min(1),
  flowId: z.string().min(1),
  payload: z.unknown(),
  identity: objectOrNull,
  auth: objectOrNull,
  metadata: objectOrNull,
});

export const orEmpty = (value: Record<string, unknown> | null | undefined): Record<string, unknown> => value ?? {};

/** A request envelope, with `identity`, `auth` and `metadata` always objects. */
export const requestEnvelopeSchema = wireEnvelopeSchema.transform((e) => ({ ...e, identity: orEmpty(e.identity), auth: orEmpty(e.auth), metadata: orEmpty(e.metadata) }));

export type RequestEnvelope = z.output<typeof requestEnvelopeSchema>;

export interface ResponseEnvelope {
  name: string;
  version: number;
  id: string;
  flowId: string;
  payload: unknown;
  identity: Record<string, unknown>;
  auth: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/** Success suffixes and the error types a handler may answer with. */
export const SUCCESS_TYPES = ['response', 'redirect'] as const;
export const ERROR_TYPES = ['error', 'badRequest', 'unauthorized', 'notFound', 'forbidden', 'userDenied', 'resourceDenied', 'expired'] as const;
export type EventErrorType = (typeof ERROR_TYPES)[number];

/** Payload of every error answer. */
export interface ErrorPayload {
  code: string;
  parameters: Record<string, unknown>;
}

export function responseEnvelope(
  request: { name: string; version: number; id?: string; flowId?: string },
  suffix: string | null,
  payload: unknown,
): ResponseEnvelope {
  return {
    name: suffix === null ? request.name : `${request.name}:${suffix}`,
    version: request.version,
    id: request.id ?? randomUUID(),
    flowId: request.flowId ?? randomUUID(),
    payload,
    identity: {},
    auth: {},
    metadata: {},
  };
}
