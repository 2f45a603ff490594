// The Sink port: where a delivery goes. REST, Slack and plain functions are
// drivers (`delivery/sinks/`); they all run the same contract suite.
import type { Dispatcher } from 'undici';
import type { OutboundPolicy } from '../security/outbound-policy.js';
import type { DeliveryRequest } from '../store/delivery-types.js';

export interface SinkContext {
  /** Stable across retries: the `webhook-id`. */
  deliveryId: string;
  /** 1-based, across all cycles. */
  attempt: number;
  integration: string;
  entity: string;
  key: string;
  eventId: string;
  timeoutMs: number;
}

/** What one attempt did, for the outcome and the delivery log (already masked). */
export interface SinkResponse {
  method: string;
  url: string;
  requestHeaders: Record<string, string>;
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  /** The response body, or its start. */
  body?: string;
  error?: unknown;
}

export interface Sink {
  readonly kind: string;
  send(request: DeliveryRequest, context: SinkContext): Promise<SinkResponse>;
  /** Values that must never appear in a log line (tokens, secrets, webhook paths). */
  secrets(): string[];
  /** The hub's outbound policy, given at start; a sink configured with its own keeps that one. */
  useOutbound?(policy: OutboundPolicy): void;
  /**
   * The same sink (URL, headers, auth, signing) sending through `dispatcher` instead of its own
   * connections, with no outbound policy: how `confluo/testing` captures what it would send.
   * HTTP sinks have it; a function sink has nothing to redirect.
   */
  through?(dispatcher: Dispatcher): Sink;
}
