// The SourceDriver port: how Confluo fetches from a system that cannot push.
// Each call to `pull` reads one page after `checkpoint` and says where the next
// page starts. The runner commits a page's events and its checkpoint in one
// transaction, so a driver never needs to remember anything itself: given the
// same checkpoint it must return the same (or a later) page.
// Drivers: log-tail, http-poll, sql-poll, and any function (`customDriver`).
// They all run the shared suite in `source-driver.contract.ts`.
import type { Logger } from 'pino';
import { maskText, maskUrl } from '../delivery/auth/mask.js';
import type { OutboundPolicy } from '../security/outbound-policy.js';
import type { Json } from '../store/types.js';

export interface PullContext {
  /** The source's name, for logs and error messages. */
  readonly source: string;
  /** Aborted when the run is cancelled (hub closing, lease lost); long reads should stop. */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/** Something the driver read but could not turn into an item (a line that is not JSON, say). */
export interface RejectedRaw {
  /** What was read, as text or JSON. */
  raw: Json;
  reason: string;
}

export interface PullPage<Item, C extends Json> {
  /** In source order; the runner keeps this order when it writes events. */
  items: Item[];
  /** Where the next pull starts. Must be JSON: it is stored as is. */
  checkpoint: C;
  /** More is ready now: the runner pulls again within the same run. */
  more?: boolean;
  /** Kept in the source's rejected list; the run goes on. */
  rejected?: RejectedRaw[];
}

export interface SourceDriver<Item = unknown, C extends Json = Json> {
  /** e.g. `log-tail`, `http-poll`; shown in the API. */
  readonly kind: string;
  /** Reads the page after `checkpoint` (null: from the beginning). */
  pull(checkpoint: C | null, context: PullContext): Promise<PullPage<Item, C>>;
  /** Values that must never appear in a log line or an API answer (tokens, passwords in URLs). */
  secrets?(): string[];
  /** Frees connections or handles; called when the hub closes. */
  close?(): Promise<void>;
  /** The hub's outbound policy, given at start, for a driver that connects out; one configured with its own keeps that. */
  useOutbound?(policy: OutboundPolicy): void;
}

/** Any function with the `pull` shape, as a driver. */
export function customDriver<Item, C extends Json>(
  pull: (checkpoint: C | null, context: PullContext) => Promise<PullPage<Item, C>>,
  options: { kind?: string; close?: () => Promise<void>; secrets?: () => string[] } = {},
): SourceDriver<Item, C> {
  return { kind: options.kind ?? 'custom', pull, ...(options.close ? { close: options.close } : {}), ...(options.secrets ? { secrets: options.secrets } : {}) };
}

/**
 * A stored checkpoint as shown to people (API, CLI): URLs lose their credentials and secret
 * query values, and the driver's secrets are masked wherever they appear.
 */
export function showableCheckpoint(checkpoint: Json | null, secrets: readonly string[]): Json | null {
  const mask = (value: Json | null): Json | null => {
    if (typeof value === 'string') return maskText(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? maskUrl(value) : value, secrets);
    if (Array.isArray(value)) return value.map((v) => mask(v) as Json);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v) as Json]));
    return value;
  };
  return mask(checkpoint);
}
