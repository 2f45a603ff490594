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
}

export class HandlerRegistry {
  readonly #handlers = new Map<string, EventHandler>();

  register<S extends z.ZodType>(handler: EventHandler<S>): this {
    const id = `${handler.name}@v${handler.version}`;
    if (this.#handlers.has(id)) throw new Error(`a handler for ${handler.name} v${handler.version} is already registered`);
    this.#handlers.set(id, handler as unknown as EventHandler);
    return this;
  }

  find(name: string, version: number): EventHandler | undefined {
    return this.#handlers.get(`${name}@v${version}`);
  }

  get size(): number {
    return this.#handlers.size;
  }
}
