// The access part of the Store port: API keys, kept as hashes (who may do
// what), and the operator actions taken with them (who did what).
import type { Json } from './types.js';

export const SCOPES = ['ingest', 'read', 'operate', 'admin'] as const;
/**
 * What a key may do: `ingest` send events (optionally only some names), `read` the read API,
 * `operate` retry, skip, replay, pause, resume, run now and reset, `admin` manage keys.
 */
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  id: string;
  /** Unique among active keys; what the operator-action record names. */
  name: string;
  scopes: Scope[];
  /** The only event names an `ingest` key may send; null for all. */
  events: string[] | null;
  /** The Standard Webhooks secret (`whsec_…`) every request with this key must be signed with; null when not required. */
  signingSecret: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface NewApiKey extends Omit<ApiKey, 'lastUsedAt' | 'revokedAt'> {
  /** SHA-256 of the key, hex: the key itself is never stored. */
  hash: string;
}

export interface OperatorAction {
  id: number;
  at: number;
  /** Who: a key's name, `config:admin-token`, or `cli:<os user>`. */
  actor: string;
  /** What, e.g. `parked.retry`, `integration.pause`, `key.revoke`. */
  action: string;
  /** On what, e.g. `customer/CC-1015`, an integration or a key name. */
  target: string;
  /** `done`, or why nothing happened (`not found`, `refused`, …). */
  outcome: string;
  details: Json | null;
}

export type NewOperatorAction = Omit<OperatorAction, 'id'>;

export interface AccessStore {
  /** Keeps a new key. False (nothing written) when an active key already has its name. */
  createKey(key: NewApiKey): Promise<boolean>;
  /** The active (not revoked) key whose hash this is. */
  findKey(hash: string): Promise<ApiKey | undefined>;
  /** Every key, revoked ones too, oldest first. */
  listKeys(): Promise<ApiKey[]>;
  /** Revokes the active key with this name. False when there is none. */
  revokeKey(name: string, now: number): Promise<boolean>;
  /** Notes that the key was used at `now`. */
  touchKey(id: string, now: number): Promise<void>;

  recordAction(action: NewOperatorAction): Promise<void>;
  /** Newest first; `before` is an action's id (a cursor). */
  listActions(query: { before?: number; limit: number }): Promise<OperatorAction[]>;
}
