// An events-protocol client: sends one envelope, fills `id` and `flowId` when
// missing, bounds the wait, and returns a typed result instead of throwing.
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type Dispatcher } from 'undici';
import type { ErrorPayload, ResponseEnvelope } from './envelope.js';

export interface EventClientOptions {
  /** The events endpoint, e.g. `http://127.0.0.1:8080/events`. */
  url: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** @defaultValue 15000 (the Kotlin client's default) */
  timeoutMs?: number;
  dispatcher?: Dispatcher;
}

export interface SendOptions {
  id?: string;
  flowId?: string;
  identity?: Record<string, unknown>;
  auth?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  timeoutMs?: number;
}

export type SendResult =
  | { kind: 'success'; payload: unknown; event: ResponseEnvelope }
  | { kind: 'redirect'; url: string; queryParameters: Record<string, unknown>; event: ResponseEnvelope }
  | { kind: 'error'; type: string; code: string; parameters: Record<string, unknown>; event: ResponseEnvelope }
  | { kind: 'failedDependency'; status?: number; body?: string; error?: Error }
  | { kind: 'timeout'; timeoutMs: number };

const isEnvelope = (value: unknown): value is ResponseEnvelope =>
  value !== null && typeof value === 'object' && typeof (value as ResponseEnvelope).name === 'string';

/** Types a response the way the Kotlin and Python clients do: by the suffix after the last `:`. */
export function classify(event: ResponseEnvelope): SendResult {
  const type = event.name.includes(':') ? event.name.slice(event.name.lastIndexOf(':') + 1) : event.name;
  if (type === 'response') return { kind: 'success', payload: event.payload, event };
  if (type === 'redirect') {
    const p = (event.payload ?? {}) as { url?: string; queryParameters?: Record<string, unknown> };
    return { kind: 'redirect', url: p.url ?? '', queryParameters: p.queryParameters ?? {}, event };
  }
  const p = (event.payload ?? {}) as Partial<ErrorPayload>;
  return { kind: 'error', type, code: p.code ?? 'UNKNOWN', parameters: p.parameters ?? {}, event };
}

export function createEventClient(options: EventClientOptions) {
  const defaultTimeout = options.timeoutMs ?? 15_000;
  return {
    async send(name: string, version: number, payload: unknown, send: SendOptions = {}): Promise<SendResult> {
      const timeoutMs = send.timeoutMs ?? defaultTimeout;
      const envelope = {
        name,
        version,
        id: send.id ?? randomUUID(),
        flowId: send.flowId ?? randomUUID(),
        payload,
        identity: send.identity ?? {},
        auth: send.auth ?? {},
        metadata: send.metadata ?? {},
      };
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
      let status: number;
      let text: string;
      try {
        const response = await httpRequest(options.url, {
          method: 'POST',
          headers,
          body: JSON.stringify(envelope),
          signal: AbortSignal.timeout(timeoutMs),
          ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
        });
        status = response.statusCode;
        text = await response.body.text();
      } catch (error) {
        const err = error as Error;
        if (err.name === 'TimeoutError' || err.name === 'AbortError') return { kind: 'timeout', timeoutMs };
        return { kind: 'failedDependency', error: err };
      }
      if (status < 200 || status > 299) return { kind: 'failedDependency', status, body: text };
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return { kind: 'failedDependency', status, body: text };
      }
      return isEnvelope(body) ? classify(body) : { kind: 'failedDependency', status, body: text };
    },
  };
}

export type EventClient = ReturnType<typeof createEventClient>;
