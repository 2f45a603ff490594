// The handler registry, keyed by `(name, version)`: the hub registers its event
// types here and users can register request/response handlers of their own.
import type { z } from 'zod';
import type { RequestEnvelope } from './envelope.js';

export type HandlerResult =
  | { kind: 'response'; payload: unknown }
  | { kind: 'redirect'; url: string; queryParameters: Record<string, unknown> };

export const respond = (payload: unknown): HandlerResult => ({ kind: 'response', payload });
export const redirect = (url: string, queryParameters: Record<string, unknown> = {}): HandlerResult => ({ kind: 'redirect', url, queryParameters });

export interface HandlerRequest<P> extends Omit<RequestEnvelope, 'payload'> {
  /** The payload after schema validation (defaults applied, unknown keys stripped). */
  payload: P;
  /** The payload exactly as sent. */
  rawPayload: unknown;
}

export interface EventHandler<S extends z.ZodType = z.ZodType> {
  name: string;
  version: number;
  /** Validates the payload; a failure answers `:badRequest` listing each field. */
  payload: S;
  /**
   * Answer without credentials.
   * @defaultValue false
   */
  public?: boolean;
  handle(request: HandlerRequest<z.output<S>>): HandlerResult | Promise<HandlerResult>;
  /**
   * Handles several requests of this type at once, in order: a bulk request's consecutive
   * envelopes for this handler. Returns one outcome per request: a result, or an error that
   * answers as `handle` throwing it would (an EventError as its type). Without it, a bulk
   * request calls `handle` once per envelope.
   */
  handleMany?(requests: Array<HandlerRequest<z.output<S>>>): Promise<Array<HandlerResult | Error>>;
}

export class HandlerRegistry {
  // By name, then version: a lookup per envelope builds no key string.
  readonly #handlers = new Map<string, Map<number, EventHandler>>();
  #size = 0;

  register<S extends z.ZodType>(handler: EventHandler<S>): this {
    let versions = this.#handlers.get(handler.name);
    if (!versions) this.#handlers.set(handler.name, (versions = new Map()));
    if (versions.has(handler.version)) throw new Error(`a handler for ${handler.name} v${handler.version} is already registered`);
    versions.set(handler.version, handler as unknown as EventHandler);
    this.#size += 1;
    return this;
  }

  find(name: string, version: number): EventHandler | undefined {
    return this.#handlers.get(name)?.get(version);
  }

  get size(): number {
    return this.#size;
  }
}
