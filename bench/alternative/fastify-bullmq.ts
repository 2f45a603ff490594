// The benchmark's baseline: what a competent TypeScript team would build
// instead of Confluo for the customer-sync path, with Fastify + BullMQ + Redis.
//
// Same job as examples/customer-sync with its `support-desk` integration, for
// `crm:contact:updated` v1:
//   POST /events (events-protocol envelope, zod-validated like flow.ts)
//     → BullMQ job (jobId from the envelope id, so a resent id is dropped)
//     → rule worker: record hash + audit list in one MULTI/EXEC, per key in order
//     → BullMQ delivery job (8 attempts, exponential backoff from 1 s)
//     → PUT ${receiverUrl}/customers/<key> with {key, name, email, version}.
//
// It is a benchmark fixture, not part of Confluo: it imports nothing from src/.
// Differences from Confluo that matter when reading the numbers are listed
// where they arise (look for "Unlike Confluo").
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { z } from 'zod';

export interface AlternativeOptions {
  /** @defaultValue redis://127.0.0.1:6379 */
  redisUrl?: string;
  /** Deliveries go to `${receiverUrl}/customers/<key>` via PUT. */
  receiverUrl: string;
  /** Concurrency of each shard's rule worker is 1 (that is what keeps a key in order); this is the number of shards. @defaultValue 8 */
  shards?: number;
  /**
   * Rule jobs processed at once, across all shards. Capped by `shards`, since each shard runs one job at a time.
   * @defaultValue 50
   */
  workerConcurrency?: number;
  /** Deliveries in flight at once (delivery worker concurrency and HTTP connections). @defaultValue 50 */
  deliveryConcurrency?: number;
  /** BullMQ prefix and namespace of every Redis key this instance writes; unique per run. @defaultValue `bench-${randomUUID()}` */
  prefix?: string;
  /** When set, `POST /events` requires `Authorization: Bearer <apiKey>` (or `auth.token`), like Confluo. */
  apiKey?: string;
}

export interface RunningAlternative {
  /** Base URL of its Fastify server, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The Redis key prefix it uses. */
  prefix: string;
  /** Closes the server, workers, queues and connections, then deletes every Redis key under its prefix. */
  close(): Promise<void>;
}

const EVENT_NAME = 'crm:contact:updated';
const EVENT_VERSION = 1;
const KEY_SEPARATOR = '-';

// ---------------------------------------------------------------------------
// The events protocol: the same envelope and answers as Confluo's POST /events.

const objectOrEmpty = z
  .record(z.string(), z.unknown())
  .nullish()
  .transform((v) => v ?? {});

const envelopeSchema = z.object({
  name: z.string().min(1),
  version: z.number().int(),
  id: z.string().min(1),
  flowId: z.string().min(1),
  payload: z.unknown(),
  identity: objectOrEmpty,
  auth: objectOrEmpty,
  metadata: objectOrEmpty,
});
type Envelope = z.output<typeof envelopeSchema>;

// The payload rules of examples/customer-sync/flow.ts (contactUpdated).
const contactUpdatedPayload = z.object({
  documentType: z.string().min(1),
  documentNumber: z.string().min(1),
  name: z.string().min(1),
  email: z.email(),
  phone: z.string().optional(),
});
type ContactUpdated = z.output<typeof contactUpdatedPayload>;

interface ResponseEnvelope {
  name: string;
  version: number;
  id: string;
  flowId: string;
  payload: unknown;
  identity: Record<string, unknown>;
  auth: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

interface FieldIssue {
  name: string;
  message: string;
  errorType: string;
}

function answer(request: { name: string; version: number; id?: string | undefined; flowId?: string | undefined }, suffix: string | null, payload: unknown): ResponseEnvelope {
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

function badProtocol(raw: unknown, propertyName: string, message: string): ResponseEnvelope {
  const fields = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const id = typeof fields.id === 'string' && fields.id ? fields.id : undefined;
  const flowId = typeof fields.flowId === 'string' && fields.flowId ? fields.flowId : undefined;
  return answer({ name: 'badProtocol', version: 1, id, flowId }, null, { code: 'INVALID_COMMUNICATION_PROTOCOL', parameters: { propertyName, message } });
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): FieldIssue[] {
  return issues.map((issue) => ({ name: issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.'), message: issue.message, errorType: issue.code }));
}

/** The key fields must be non-empty and free of the separator and of "/", as Confluo's entity key requires. */
function keyIssues(payload: ContactUpdated): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const field of ['documentType', 'documentNumber'] as const) {
    const value = payload[field];
    if (value.includes(KEY_SEPARATOR)) issues.push({ name: field, message: `key field "${field}" must not contain the separator "${KEY_SEPARATOR}"`, errorType: 'invalid_key' });
    else if (value.includes('/')) issues.push({ name: field, message: `key field "${field}" must not contain "/"`, errorType: 'invalid_key' });
  }
  return issues;
}

function bearer(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

// ---------------------------------------------------------------------------
// Jobs and Redis layout.

interface EventJob {
  eventId: string;
  flowId: string;
  key: string;
  payload: ContactUpdated;
  acceptedAt: number;
}

interface DeskBody {
  key: string;
  name: string;
  email: string;
  version: number;
}

interface DeliveryJob {
  eventId: string;
  key: string;
  body: DeskBody;
}

interface FieldDiff {
  part: string;
  field: string;
  oldValue: unknown;
  newValue: unknown;
}

/**
 * BullMQ job ids may not be integer-like ("123") nor contain ":" (it throws "Custom Id cannot
 * contain :"), and event ids may be either. So the job id is the envelope id, percent-encoded
 * (":" becomes "%3A") behind a fixed "e." prefix: still one job id per event id and back, so
 * BullMQ's duplicate-id check still drops a resent event.
 */
const eventJobId = (eventId: string) => `e.${encodeURIComponent(eventId)}`;
/** `<eventId>:desk` in spirit; deterministic, so a rule job that runs again does not add a second delivery. */
const deliveryJobId = (eventId: string) => `${eventJobId(eventId)}.desk`;

/** FNV-1a, 32 bits: a stable, well-spread hash for choosing a key's shard. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function diffPart(part: string, before: Record<string, unknown> | undefined, after: Record<string, unknown>): FieldDiff[] {
  const old = before ?? {};
  const diffs: FieldDiff[] = [];
  for (const field of new Set([...Object.keys(old), ...Object.keys(after)])) {
    const oldValue = old[field];
    const newValue = after[field];
    if (!isDeepStrictEqual(oldValue, newValue)) diffs.push({ part, field, oldValue, newValue });
  }
  return diffs;
}

const compact = (value: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));

async function quitQuietly(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------

export async function startAlternative(options: AlternativeOptions): Promise<RunningAlternative> {
  const redisUrl = options.redisUrl ?? 'redis://127.0.0.1:6379';
  const prefix = options.prefix ?? `bench-${randomUUID()}`;
  const shards = Math.max(1, Math.min(options.shards ?? 8, options.workerConcurrency ?? 50));
  const deliveryConcurrency = options.deliveryConcurrency ?? 50;
  const receiver = new URL(options.receiverUrl);
  const receiverPath = receiver.pathname.replace(/\/+$/, '');

  // BullMQ wants its own connection per Queue and per Worker (a Worker duplicates it once more
  // for its blocking BZPOPMIN); workers need maxRetriesPerRequest: null. Queues keep ioredis'
  // default retries so that an add fails, and POST /events answers an error, while Redis is away.
  const connections: Redis[] = [];
  const connect = (forWorker: boolean): Redis => {
    const redis = new Redis(redisUrl, forWorker ? { maxRetriesPerRequest: null } : {});
    redis.on('error', (error: Error) => console.error(`[alternative] redis: ${error.message}`));
    connections.push(redis);
    return redis;
  };

  const retention = { removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } };

  // Per-key order. Open-source BullMQ has no per-key groups (that is BullMQ Pro's "groups"), so
  // this uses the usual workaround: the `events` queue is really `shards` queues `events-<n>`, a
  // key always goes to shard fnv1a(key) % shards, and each shard has one Worker of concurrency 1.
  // A key's events are then processed in the order they were added. The costs: at most `shards`
  // rule jobs run at once, a slow key holds up every key of its shard, and order only holds while
  // no job fails. Unlike Confluo, which parks a failing key while other keys flow on, a failed
  // rule job here is retried later (attempts: 3) while its shard moves on, so the key's next
  // events overtake it.
  const eventQueues = Array.from(
    { length: shards },
    (_, shard) =>
      new Queue<EventJob>(`events-${shard}`, {
        connection: connect(false),
        prefix,
        defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 500 }, ...retention },
      }),
  );
  const deliveries = new Queue<DeliveryJob>('deliveries', {
    connection: connect(false),
    prefix,
    defaultJobOptions: { attempts: 8, backoff: { type: 'exponential', delay: 1000 }, ...retention },
  });

  const recordKey = (key: string) => `${prefix}:record:${key}`;
  const auditKey = (key: string) => `${prefix}:audit:${key}`;
  const appliedKey = (key: string) => `${prefix}:applied:${key}`;

  const enqueueDelivery = (eventId: string, body: DeskBody) =>
    deliveries.add('support-desk', { eventId, key: body.key, body }, { jobId: deliveryJobId(eventId) });

  /**
   * The rule: contact ← {name, email, phone}. Reads the record, diffs part `contact`, and when
   * something changed writes record vN+1, one audit entry per changed field and an "applied"
   * marker in one MULTI/EXEC, under WATCH (optimistic: if BullMQ hands a stalled job to a second
   * runner, only one commit wins). The marker holds the delivery body, so a job that runs again
   * after its commit (crash or stall between EXEC and the delivery add) re-adds the same delivery
   * instead of losing it; the delivery's fixed job id keeps that to one.
   */
  async function applyRule(redis: Redis, job: Job<EventJob>): Promise<{ status: string; version?: number }> {
    const { eventId, flowId, key, payload } = job.data;
    for (let attempt = 1; attempt <= 10; attempt++) {
      await redis.watch(recordKey(key), appliedKey(key));
      const [applied, stored] = await Promise.all([redis.hget(appliedKey(key), eventId), redis.hgetall(recordKey(key))]);
      if (applied !== null) {
        await redis.unwatch();
        await enqueueDelivery(eventId, JSON.parse(applied) as DeskBody);
        return { status: 'already-applied' };
      }
      const currentVersion = stored.version === undefined ? 0 : Number(stored.version);
      const currentContact = stored.contact === undefined ? undefined : (JSON.parse(stored.contact) as Record<string, unknown>);
      const contact = compact({ name: payload.name, email: payload.email, phone: payload.phone });
      const diffs = diffPart('contact', currentContact, contact);
      if (diffs.length === 0) {
        await redis.unwatch();
        return { status: 'unchanged' };
      }
      const version = currentVersion + 1;
      const at = new Date().toISOString();
      const body: DeskBody = { key, name: payload.name, email: payload.email, version };
      const audit = diffs.map((d) => JSON.stringify({ ...d, rule: EVENT_NAME, eventId, flowId, version, at }));
      const results = await redis
        .multi()
        .hset(recordKey(key), { version: String(version), contact: JSON.stringify(contact), updatedAt: at })
        .rpush(auditKey(key), ...audit)
        .hset(appliedKey(key), eventId, JSON.stringify(body))
        .exec();
      if (results === null) continue; // a watched key changed under us: read again
      const failed = results.find(([error]) => error !== null);
      if (failed) throw failed[0] as Error;
      await enqueueDelivery(eventId, body);
      return { status: 'processed', version };
    }
    throw new Error(`record ${key} kept changing under WATCH`);
  }

  const ruleWorkers = eventQueues.map((queue) => {
    const records = connect(false); // its own connection: WATCH/MULTI state is per connection
    const worker = new Worker<EventJob>(queue.name, (job) => applyRule(records, job), { connection: connect(true), prefix, concurrency: 1 });
    worker.on('error', (error) => console.error(`[alternative] ${queue.name} worker: ${error.message}`));
    return worker;
  });

  // Deliveries. Unlike Confluo's `ordered: true`, nothing here keeps a key's deliveries in order:
  // `deliveryConcurrency` jobs run at once from one queue, so two changes of one key can be in
  // flight together, and a retried delivery (backoff) is overtaken by the key's later ones.
  const pool = new Pool(receiver.origin, { connections: deliveryConcurrency, keepAliveTimeout: 30_000 });
  const deliveryWorker = new Worker<DeliveryJob>(
    'deliveries',
    async (job) => {
      const { body } = job.data;
      const response = await pool.request({
        method: 'PUT',
        path: `${receiverPath}/customers/${encodeURIComponent(body.key)}`,
        headers: { 'content-type': 'application/json', 'idempotency-key': job.id ?? deliveryJobId(job.data.eventId) },
        body: JSON.stringify(body),
        headersTimeout: 15_000,
        bodyTimeout: 15_000,
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.body.text();
      const status = response.statusCode;
      if (status >= 200 && status < 300) return { status };
      // Like Confluo (Standard Webhooks): 408, 429 and 5xx retry; any other 4xx fails at once.
      const message = `PUT /customers/${body.key} answered ${status}: ${text.slice(0, 200)}`;
      if (status === 408 || status === 429 || status >= 500) throw new Error(message);
      throw new UnrecoverableError(message);
    },
    { connection: connect(true), prefix, concurrency: deliveryConcurrency },
  );
  deliveryWorker.on('error', (error) => console.error(`[alternative] deliveries worker: ${error.message}`));

  // ---------------------------------------------------------------------------
  // HTTP: POST /events.
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

  // Always HTTP 200 with an envelope, also for bodies Fastify refuses (not JSON, too large).
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) console.error(`[alternative] POST /events failed: ${error.message}`);
    const body = status >= 500 ? answer({ name: 'error', version: 1 }, null, { code: 'UNHANDLED_ERROR', parameters: {} }) : badProtocol(undefined, '(body)', error.message);
    return reply.code(200).send(body);
  });

  app.post('/events', async (request): Promise<ResponseEnvelope> => {
    const raw = request.body;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return badProtocol(raw, '(envelope)', 'the body must be a JSON object');
    const parsed = envelopeSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return badProtocol(raw, String(issue?.path[0] ?? '(envelope)'), issue?.message ?? 'invalid envelope');
    }
    const envelope: Envelope = parsed.data;
    if (envelope.name !== EVENT_NAME || envelope.version !== EVENT_VERSION) {
      return answer({ name: 'eventNotFound', version: 1, id: envelope.id, flowId: envelope.flowId }, null, {
        code: 'NO_EVENT_HANDLER_FOUND',
        parameters: { event: envelope.name, version: envelope.version },
      });
    }
    if (options.apiKey !== undefined) {
      const token = bearer(request.headers.authorization) ?? (typeof envelope.auth.token === 'string' ? envelope.auth.token : undefined);
      if (token !== options.apiKey) {
        return answer(envelope, 'unauthorized', { code: 'UNAUTHORIZED', parameters: { message: token === undefined ? 'missing credentials' : 'the key is not valid' } });
      }
    }
    const payload = contactUpdatedPayload.safeParse(envelope.payload);
    if (!payload.success) return answer(envelope, 'badRequest', { code: 'INVALID_PAYLOAD', parameters: { fields: describeIssues(payload.error.issues) } });
    const badKey = keyIssues(payload.data);
    if (badKey.length > 0) return answer(envelope, 'badRequest', { code: 'INVALID_PAYLOAD', parameters: { fields: badKey } });

    const key = `${payload.data.documentType}${KEY_SEPARATOR}${payload.data.documentNumber}`;
    const queue = eventQueues[fnv1a(key) % shards];
    if (queue === undefined) throw new Error('no shard queue'); // unreachable
    // Answered only once Redis has the job. Unlike Confluo (SQLite, synchronous=FULL), what that
    // survives depends on the Redis server's persistence settings (appendonly/appendfsync).
    // Unlike Confluo, a resent id also answers `accepted` (BullMQ drops it without telling),
    // and only while the first job is still kept (removeOnComplete: 24 h); a resent id then
    // goes to the same shard only if its payload names the same key.
    await queue.add(EVENT_NAME, { eventId: envelope.id, flowId: envelope.flowId, key, payload: payload.data, acceptedAt: Date.now() }, { jobId: eventJobId(envelope.id) });
    return answer(envelope, 'response', { status: 'accepted', eventId: envelope.id });
  });

  try {
    await Promise.all([...eventQueues.map((q) => q.waitUntilReady()), deliveries.waitUntilReady(), ...ruleWorkers.map((w) => w.waitUntilReady()), deliveryWorker.waitUntilReady()]);
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (error) {
    await shutdown().catch(() => undefined);
    throw error;
  }
  const address = app.server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    await app.close();
    // Workers first (each waits for its active job), then the queues they add to.
    await Promise.all([...ruleWorkers, deliveryWorker].map((w) => w.close()));
    await Promise.all([...eventQueues, deliveries].map((q) => q.close()));
    await pool.close();
    await Promise.all(connections.map(quitQuietly));
    // Everything this instance wrote is under `${prefix}:` (BullMQ's keys and ours).
    const admin = new Redis(redisUrl);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await admin.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      await quitQuietly(admin);
    }
  }

  return {
    url: `http://127.0.0.1:${address.port}`,
    prefix,
    close: () => (closing ??= shutdown()),
  };
}
