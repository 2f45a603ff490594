// A hub for users' tests: their config, assembled by createHub like any hub,
// on a throwaway SQLite file, with no port opened. Events go in through the
// same `POST /events` route (validation, keys, deduplication) by injection;
// `settled()` waits until the inbox is drained and every delivery was tried.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Level } from 'pino';
import type { z } from 'zod';
import type { Integration } from '../delivery/integration.js';
import { ConfluoError } from '../errors/index.js';
import type { Entity, EntityParts, KeyValues } from '../flow/entity.js';
import type { EventType } from '../flow/event-type.js';
import { checkConfig, resolveSettings, type ConfluoConfig } from '../hub/config.js';
import { createHub, hubOptionsFrom, type Hub } from '../hub/create-hub.js';
import { openStore } from '../hub/open-store.js';
import { classify } from '../protocol/client.js';
import type { ResponseEnvelope } from '../protocol/envelope.js';
import type { Delivery } from '../store/delivery-types.js';
import type { AuditEntry, StoredRecord } from '../store/types.js';
import { createCapture, type CaptureOptions, type CapturedRequest, type Capture } from './capture-sink.js';
import { EventRefusedError } from './event-refused-error.js';
import { deliveriesOldestFirst, outstanding } from './outstanding.js';

export interface TestHubOptions {
  /**
   * Send the integrations' HTTP requests (REST, Slack) to a capture instead of the network, and
   * read them with `hub.captured(name)`; an object sets the status they are answered with.
   * Function sinks still call their function.
   * @defaultValue false
   */
  capture?: boolean | CaptureOptions;
  /** How long `settled()` waits before it throws, saying what is left. @defaultValue 10000 */
  settleTimeoutMs?: number;
  /** @defaultValue 'silent' */
  logLevel?: Level | 'silent';
}

export interface SendOptions {
  /** @defaultValue a random UUID */
  id?: string;
  /** @defaultValue a random UUID */
  flowId?: string;
  identity?: Record<string, unknown>;
  /** `{ wait: true }` answers after the rule ran, as over HTTP. */
  metadata?: Record<string, unknown>;
}

/** The hub's answer: `accepted` or `duplicate` (with `wait`, `processed` or `parked` and what happened). */
export interface Sent {
  status: string;
  eventId: string;
  [field: string]: unknown;
}

export type TestRecord<E extends Entity = Entity> = Omit<StoredRecord, 'parts'> & { parts: EntityParts<E> };

export interface TestHub {
  /** Sends one event as `POST /events` would take it; throws EventRefusedError when the hub refuses it. */
  send<E extends Entity, S extends z.ZodType>(event: EventType<E, S>, payload: z.input<S>, options?: SendOptions): Promise<Sent>;
  /** Resolves once no event of an unparked key is queued and every delivery due has been tried once. */
  settled(): Promise<void>;
  record<E extends Entity>(entity: E, key: string | KeyValues<E['keyFields']>): Promise<TestRecord<E> | undefined>;
  record(entity: string, key: string): Promise<TestRecord | undefined>;
  /** Every audit entry of the record, oldest first. */
  audit<E extends Entity>(entity: E | string, key: string | KeyValues<E['keyFields']>): Promise<AuditEntry[]>;
  /** The integration's deliveries, oldest first. */
  deliveries(integration: string): Promise<Delivery[]>;
  /** What the integration sent, with `capture` on; oldest first, retries included. */
  captured(integration: string): readonly CapturedRequest[];
  /** The hub itself (store, processor, dispatcher, sources), for what the kit does not cover. */
  readonly hub: Hub;
  /** Stops the hub and deletes its database. */
  close(): Promise<void>;
}

const SETTLE_POLL_MS = 10;

export async function createTestHub(config: ConfluoConfig, options: TestHubOptions = {}): Promise<TestHub> {
  checkConfig(config, 'createTestHub takes');
  const dir = mkdtempSync(join(tmpdir(), 'confluo-test-hub-'));
  // No environment: CONFLUO_* variables of the shell running the tests do not leak in.
  const settings = resolveSettings(config, {}, { db: `sqlite:${join(dir, 'confluo.db')}` });
  const captures = new Map<string, Capture>();
  const integrations = settings.integrations.map((integration): Integration => {
    if (!options.capture) return integration;
    const capture = createCapture(options.capture === true ? {} : options.capture);
    const sink = integration.sink.through?.(capture.dispatcher);
    if (!sink) return integration;
    captures.set(integration.name, capture);
    return { ...integration, sink };
  });
  const apiKey = `ck_test_${randomBytes(16).toString('hex')}`;
  const store = await openStore(settings.db);
  const base = hubOptionsFrom(settings, { store, apiKeys: [apiKey], adminTokens: [`cadm_test_${randomBytes(16).toString('hex')}`], logger: pino({ level: options.logLevel ?? 'silent' }) });
  const hub = await createHub({
    ...base,
    integrations,
    // Short naps unless the config says otherwise: a test waits on them.
    processor: { idlePollMs: SETTLE_POLL_MS, ...base.processor },
    dispatcher: { pollMs: SETTLE_POLL_MS, ...base.dispatcher },
    // Sources run when a test asks (`hub.hub.sources.runNow(name)`), not on their schedule.
    pull: false,
  });
  await hub.start();

  const entityNamed = (entity: Entity | string): Entity => {
    const found = typeof entity === 'string' ? settings.flow.entities.get(entity) : entity;
    if (!found) throw new ConfluoError('UNKNOWN_ENTITY', `the flow has no entity named "${String(entity)}"`);
    return found;
  };
  const keyOf = (entity: Entity, key: string | KeyValues<readonly string[]>) => (typeof key === 'string' ? key : entity.formatKey(key));
  const timeoutMs = options.settleTimeoutMs ?? 10_000;

  return {
    hub,
    async send(event, payload, sendOptions = {}) {
      const envelope = {
        name: event.name,
        version: event.version,
        id: sendOptions.id ?? randomUUID(),
        flowId: sendOptions.flowId ?? randomUUID(),
        payload,
        identity: sendOptions.identity ?? {},
        auth: {},
        metadata: sendOptions.metadata ?? {},
      };
      const answer = await hub.app.inject({ method: 'POST', url: '/events', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, payload: JSON.stringify(envelope) });
      const result = classify(answer.json<ResponseEnvelope>());
      if (result.kind === 'success') return result.payload as Sent;
      if (result.kind === 'error') throw new EventRefusedError(event.name, result.type, result.code, result.parameters);
      throw new ConfluoError('UNEXPECTED_ANSWER', `${event.name}: unexpected answer ${answer.statusCode} ${answer.body}`);
    },
    async settled() {
      const deadline = Date.now() + timeoutMs;
      // Two quiet looks in a row: one look's queries are separate reads, and work may move between them.
      let quiet = 0;
      for (;;) {
        const left = await outstanding(hub.store, integrations, Date.now());
        quiet = left.events === 0 && left.deliveries === 0 ? quiet + 1 : 0;
        if (quiet === 2) return;
        if (Date.now() > deadline) {
          throw new ConfluoError('NOT_SETTLED', `not settled within ${timeoutMs} ms: ${left.events} events queued, ${left.deliveries} deliveries due and not yet tried`);
        }
        await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
      }
    },
    async record(entity: Entity | string, key: string | KeyValues<readonly string[]>) {
      const found = entityNamed(entity);
      return (await hub.store.records.getRecord(found.name, keyOf(found, key))) as TestRecord | undefined;
    },
    async audit(entity, key) {
      const found = entityNamed(entity);
      const entries: AuditEntry[] = [];
      for (;;) {
        const page = await hub.store.records.listAudit(found.name, keyOf(found, key), { after: entries.at(-1)?.id ?? 0, limit: 500 });
        entries.push(...page);
        if (page.length < 500) return entries;
      }
    },
    deliveries: (integration) => deliveriesOldestFirst(hub.store, { integration }),
    captured(integration) {
      const capture = captures.get(integration);
      if (capture) return capture.requests;
      const why = !options.capture ? 'pass { capture: true } to createTestHub' : settings.integrations.some((i) => i.name === integration) ? 'its sink is not an HTTP sink' : 'there is no such integration';
      throw new ConfluoError('NOT_CAPTURED', `nothing is captured for integration "${integration}": ${why}`);
    },
    async close() {
      try {
        await hub.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
