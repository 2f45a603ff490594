// The one place that assembles a running hub: store, inbox writer, processor,
// protocol server and read API. The CLI, the tests and embedding applications
// all start Confluo through here.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { requireScopes } from '../api/admin-auth.js';
import { deliveryApiRoutes } from '../api/delivery-api.js';
import { healthApiRoutes } from '../api/health-api.js';
import { answerErrorsAsJson, frameworkErrorOptions } from '../api/http-errors.js';
import { keysApiRoutes } from '../api/keys-api.js';
import { operatorActionRoutes, recordActions } from '../api/operator-actions.js';
import { readApiRoutes } from '../api/read-api.js';
import { sourceApiRoutes } from '../api/source-api.js';
import { traceApiRoutes } from '../api/trace-api.js';
import { Dispatcher, type Alert, type DispatcherOptions } from '../delivery/dispatcher.js';
import type { Integration } from '../delivery/integration.js';
import { createOutbox } from '../delivery/outbox.js';
import { checkMonitorSubscription, checkSubscription } from '../delivery/subscription-check.js';
import { createAnnouncer } from '../health/announcer.js';
import { MonitorRunner } from '../health/monitor-runner.js';
import { HubMetrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import { measureRequests, metricsRoute } from '../observability/metrics-route.js';
import type { Monitor } from '../health/monitor.js';
import { ConfigError } from '../errors/index.js';
import { OutcomeBus, type EventResult } from '../engine/outcomes.js';
import { Processor, type ProcessorOptions } from '../engine/processor.js';
import type { Flow } from '../flow/flow.js';
import { Admission } from '../ingest/admission.js';
import { InboxWriter } from '../ingest/inbox-writer.js';
import { registerIngestHandlers, type IngestOptions } from '../ingest/ingest-handlers.js';
import { eventsRoutes } from '../protocol/http.js';
import { MAX_PARAM_LENGTH } from '../protocol/limits.js';
import { HandlerRegistry } from '../protocol/registry.js';
import { Access, type AccessOptions } from '../security/access.js';
import { eventsGrant } from '../security/events-grant.js';
import { outboundPolicy, type OutboundOptions } from '../security/outbound-policy.js';
import { SignatureCheck } from '../security/signature-check.js';
import type { Source } from '../sources/source.js';
import { SourceRunner, type SourceRunnerOptions } from '../sources/source-runner.js';
import type { LoopHealth } from '../store/health-types.js';
import type { Store } from '../store/store.js';
import type { EventTrace } from '../store/types.js';
import { DEFAULTS, type Settings } from './config.js';
import { DeadMansSwitch } from './dead-mans-switch.js';
import { newProcessId, ProcessBeats } from './process-beats.js';

export interface HubOptions {
  flow: Flow;
  store: Store;
  /** Configured keys accepted on `POST /events` (every event); stored keys work beside them. */
  apiKeys: readonly string[];
  /** Configured tokens with the `read`, `operate` and `admin` scopes; stored keys work beside them. */
  adminTokens: readonly string[];
  /** How long answers about stored keys are cached, and how often "last used" is written. */
  access?: Pick<AccessOptions, 'cacheMs' | 'touchEveryMs'>;
  /** @defaultValue a pino logger at `info` */
  logger?: Logger;
  processor?: Omit<ProcessorOptions, 'onResults'>;
  ingest?: IngestOptions;
  /** Users' own request/response handlers, served beside the flow's event types. */
  registry?: HandlerRegistry;
  /**
   * Run the processor in this process.
   * @defaultValue true
   */
  process?: boolean;
  /** Where changes and events go out. */
  integrations?: readonly Integration[];
  dispatcher?: Omit<DispatcherOptions, 'onAlert'>;
  /**
   * Run the delivery dispatcher in this process.
   * @defaultValue true
   */
  deliver?: boolean;
  /** Systems Confluo fetches from on a schedule. */
  sources?: readonly Source[];
  sourceRunner?: Omit<SourceRunnerOptions, 'onAccepted'>;
  /**
   * Run sources on their schedule in this process (runs by hand work in every process).
   * @defaultValue true
   */
  pull?: boolean;
  /**
   * Take events on `POST /events` in this process (the `ingest` role); without it those routes
   * answer 404 and say where events go. The read API is served either way.
   * @defaultValue true
   */
  acceptEvents?: boolean;
  /** Raised once per transition, e.g. an integration auto-disabled; also logged at error level. */
  onAlert?: (alert: Alert) => void;
  /**
   * Where sinks and source drivers may connect, for those not given their own.
   * @defaultValue the defaults of `outboundSchema`
   */
  outbound?: OutboundOptions;
  /** Outside services to watch; their transitions go to integrations subscribed with `on: { monitors }`. */
  monitors?: readonly Monitor[];
  /** This process's beats, and the outward dead-man's switch. */
  heartbeat?: {
    /** @defaultValue 1000 */
    intervalMs?: number;
    /** @defaultValue 3 */
    missedBeats?: number;
    /** Called every `deadMansSwitchIntervalMs` while this process is healthy. @defaultValue none */
    deadMansSwitchUrl?: string | undefined;
    /** @defaultValue 60000 */
    deadMansSwitchIntervalMs?: number;
  };
  /**
   * Who this process is: the owner of every lease it takes. @defaultValue the store's owner
   * (PostgreSQL, see `openStore`'s `owner`), else a new id
   */
  processId?: string;
  /**
   * Count and serve Prometheus metrics (`GET /metrics`).
   * @defaultValue true
   */
  metrics?: boolean;
  /** A token that may read `/metrics`, beside keys with the admin scope. @defaultValue none */
  metricsToken?: string | undefined;
  /**
   * OpenTelemetry span export (`startTracing`, from the `OTEL_*` variables); the hub flushes and
   * closes it on close. @defaultValue none: no spans, no SDK loaded
   */
  tracing?: Tracing | undefined;
}

export interface Hub {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly processor: Processor;
  readonly dispatcher: Dispatcher;
  readonly sources: SourceRunner;
  readonly monitors: MonitorRunner;
  /** This process's id: the owner of its leases, and its row in the health view. */
  readonly processId: string;
  readonly log: Logger;
  /**
   * Registers this process, starts its beats, the processor, the dispatcher, the source schedule
   * (as its roles say) and the monitors, without serving HTTP.
   */
  start(): Promise<void>;
  /** Why this process is not ready (`GET /readyz` answers 503 with these), or none. */
  unready(): string[];
  /** Starts the loops (`start`) and the HTTP server; resolves with the base URL. */
  listen(options?: { port?: number; host?: string }): Promise<string>;
  /** Stops taking requests, lets the batch in hand commit, closes the store. */
  close(): Promise<void>;
}

/** A hub as resolved settings describe it (`confluo start`, the testing kit); `given` is what settings do not hold. */
export function hubOptionsFrom(settings: Settings, given: Pick<HubOptions, 'store' | 'apiKeys' | 'adminTokens' | 'logger'>): HubOptions {
  // The processor's lease is the store's business (openStore's `processLeaseMs`).
  const { leaseMs: _processLeaseMs, ...processor } = settings.processor;
  return {
    ...given,
    flow: settings.flow,
    integrations: settings.integrations,
    sources: settings.sources,
    sourceRunner: settings.sourceRunner,
    processor,
    ingest: settings.ingest,
    dispatcher: settings.delivery,
    process: settings.roles.has('process'),
    deliver: settings.roles.has('deliver'),
    pull: settings.roles.has('pull'),
    acceptEvents: settings.roles.has('ingest'),
    outbound: settings.outbound,
    monitors: settings.monitors,
    heartbeat: settings.heartbeat,
    metrics: settings.metrics,
    metricsToken: settings.metricsToken,
  };
}

/** A loop with no round for this long is stuck: the process is not ready. */
const LOOP_STALL_MS = 30_000;

/** The roles a process has, as `confluo status` lists them. */
function roles(options: HubOptions): string[] {
  const named: Array<[string, boolean | undefined]> = [
    ['ingest', options.acceptEvents],
    ['process', options.process],
    ['deliver', options.deliver],
    ['pull', options.pull],
  ];
  return named.filter(([, on]) => on !== false).map(([role]) => role);
}

function resultOf(trace: EventTrace | undefined): EventResult | undefined {
  if (!trace) return undefined;
  if (trace.status === 'processed' && trace.result) return { eventId: trace.eventId, name: trace.name, status: 'processed', result: trace.result };
  if (trace.status === 'parked' && trace.error) return { eventId: trace.eventId, name: trace.name, status: 'parked', entity: trace.entity, key: trace.key, error: trace.error };
  return undefined;
}

export async function createHub(options: HubOptions): Promise<Hub> {
  const { flow, store } = options;
  const log = options.logger ?? pino({ level: 'info' });
  const outcomes = new OutcomeBus();
  const integrations = options.integrations ?? [];
  const names = new Set<string>();
  for (const integration of integrations) {
    if (names.has(integration.name)) throw new ConfigError(`two integrations are named "${integration.name}"`);
    names.add(integration.name);
    checkSubscription(flow, integration);
    if (integration.disabled !== false) log.warn({ integration: integration.name }, `integration ${integration.name} is off: ${integration.disabled}`);
  }
  const monitors = options.monitors ?? [];
  const monitorNames = new Set<string>();
  for (const monitor of monitors) {
    if (monitorNames.has(monitor.name)) throw new ConfigError(`two monitors are named "${monitor.name}"`);
    monitorNames.add(monitor.name);
  }
  for (const integration of integrations) checkMonitorSubscription(integration, monitorNames);
  const outbound = outboundPolicy(options.outbound);
  for (const integration of integrations) integration.sink.useOutbound?.(outbound);
  for (const source of options.sources ?? []) source.driver.useOutbound?.(outbound);
  await store.deliveries.registerIntegrations(integrations.filter((i) => i.disabled === false).map((i) => i.name), Date.now());
  const maxBacklog = options.acceptEvents === false ? undefined : options.ingest?.maxBacklog;
  const admission = maxBacklog === undefined ? undefined : new Admission({ maxBacklog, count: () => store.inbox.queued(), log: log.child({ component: 'admission' }) });
  await admission?.resync();
  const processId = options.processId ?? store.owner ?? newProcessId();
  const registry = options.registry ?? new HandlerRegistry();
  const metrics =
    options.metrics === false
      ? undefined
      : new HubMetrics({
          store,
          events: [...flow.events.values()].map((type) => type.name),
          isOwnHandler: (name, version) => registry.find(name, version) !== undefined,
          integrations: integrations.map((i) => i.name),
          monitors: monitors.map((m) => m.name),
          log: log.child({ component: 'metrics' }),
        });
  const tracing = options.tracing;
  const dispatcher = new Dispatcher(store.deliveries, integrations, log.child({ component: 'delivery' }), {
    owner: processId,
    ...options.dispatcher,
    ...(options.onAlert ? { onAlert: options.onAlert } : {}),
    ...(metrics || tracing
      ? {
          onAttempt: (attempt, integration, delivery) => {
            metrics?.attempted(attempt, integration);
            tracing?.attempt(attempt, delivery);
          },
        }
      : {}),
  });
  const processor = new Processor(store.inbox, flow, log.child({ component: 'processor' }), {
    ...options.processor,
    outbox: createOutbox(integrations),
    ...(tracing ? { tracer: { start: (event, now) => tracing.process(event, now, flow) } } : {}),
    onResults: (results, batch) => {
      metrics?.committed(results, batch);
      admission?.applied(results.length);
      outcomes.publish(results);
      dispatcher.wake();
    },
  });
  const inbox = new InboxWriter(store.inbox, { onAccepted: () => processor.wake() });
  const sources = new SourceRunner(store.sources, flow, options.sources ?? [], log.child({ component: 'sources' }), {
    owner: processId,
    ...options.sourceRunner,
    onAccepted: () => processor.wake(),
    ...(metrics ? { onRun: (run) => metrics.sourceRun(run), onPage: (page) => (metrics.sourcePage(page), options.sourceRunner?.onPage?.(page)) } : {}),
  });
  await sources.register();
  const announce = createAnnouncer(integrations, monitors);
  const monitorRunner = new MonitorRunner(store.health, monitors, announce, log.child({ component: 'monitors' }), { outbound });
  await monitorRunner.register();
  registerIngestHandlers(
    {
      flow,
      registry,
      inbox,
      waitFor: (eventId, timeoutMs) => outcomes.wait(eventId, timeoutMs, async () => resultOf(await store.records.getEvent(eventId))),
      ...(admission ? { admission } : {}),
      ...(tracing ? { tracing } : {}),
    },
    options.ingest,
  );

  // Work committed by other processes (PostgreSQL LISTEN/NOTIFY) wakes idle loops here; polling stays the fallback.
  // Events another process applied or parked answer this process's waits.
  // A few lookups at a time: after a reconnect every open wait is looked up, and the pool serves the rest of the hub too.
  const answerWaits = async (eventIds: readonly string[] | undefined) => {
    const waited = outcomes.waitingFor(eventIds);
    for (let i = 0; i < waited.length; i += 8) {
      const results = await Promise.all(waited.slice(i, i + 8).map(async (id) => resultOf(await store.records.getEvent(id))));
      outcomes.publish(results.filter((r) => r !== undefined));
    }
  };
  const stopWaking = [
    store.onWake?.('inbox', () => processor.wake()),
    store.onWake?.('deliveries', () => dispatcher.wake()),
    store.onWake?.('outcomes', (eventIds) => {
      answerWaits(eventIds).catch((error: unknown) => log.warn({ err: error }, 'could not look up events processed elsewhere; their waits answer at the timeout'));
    }),
  ];

  const access = new Access({
    ...options.access,
    store: store.access,
    apiKeys: options.apiKeys,
    adminTokens: options.adminTokens,
    onTouchError: (error) => log.warn({ err: error }, "could not note a key's last use"),
  });

  const app: FastifyInstance = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    // Fastify's default (100) answers 414 for ids and keys that ingest accepted.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    ...frameworkErrorOptions(log),
  });
  answerErrorsAsJson(app, log);
  if (metrics) measureRequests(app, metrics);
  if (options.acceptEvents !== false) {
    await app.register(eventsRoutes, {
      registry,
      authenticate: eventsGrant(access, new SignatureCheck()),
      log: log.child({ component: 'events' }),
      ...(metrics ? { onAnswers: (answers) => metrics.answered(answers) } : {}),
    });
  } else {
    const elsewhere = { error: { code: 'NOT_AN_INGEST_PROCESS', message: 'this Confluo process does not take events (it runs without the ingest role): send them to an ingest process' } };
    // Answered before the body is read, so any content type (curl's -d sends a form type) gets this answer, not a 415.
    for (const url of ['/events', '/events/bulk']) {
      app.route({ method: 'POST', url, onRequest: async (_request, reply) => reply.code(404).send(elsewhere), handler: async () => undefined });
    }
  }
  await app.register(async (api) => {
    requireScopes(api, access);
    recordActions(api, store.access, log);
    await readApiRoutes(api, { store, flow, onUnparked: () => processor.wake() });
    await deliveryApiRoutes(api, { store, integrations: dispatcher.integrations, onChanged: () => dispatcher.wake() });
    await sourceApiRoutes(api, { store, runner: sources });
    await traceApiRoutes(api, { store, flow, integrations: dispatcher.integrations });
    await keysApiRoutes(api, { store: store.access, access });
    await operatorActionRoutes(api, { store: store.access });
    await healthApiRoutes(api, { store: store.health, monitors, runner: monitorRunner });
  });

  // The loops this process runs, as they last said; the ingest "loop" is the HTTP server itself.
  let listening = false;
  const loops = (): LoopHealth[] => {
    const states: LoopHealth[] = [];
    if (options.acceptEvents !== false && listening) {
      const engaged = admission?.status().engaged === true;
      states.push({ name: 'ingest', status: engaged ? 'degraded' : 'ok', lastTickAt: Date.now(), message: engaged ? 'backlog over ingest.maxBacklog: refusing new events' : null });
    }
    if (options.process !== false) states.push(processor.health());
    if (options.deliver !== false && dispatcher.running) states.push(dispatcher.health());
    if (options.pull !== false && sources.scheduling) states.push(sources.health());
    if (monitors.length > 0) states.push(monitorRunner.health());
    return states;
  };
  const beats = new ProcessBeats(store.health, roles(options), loops, announce, log.child({ component: 'heartbeat' }), {
    id: processId,
    ...(options.heartbeat?.intervalMs !== undefined ? { intervalMs: options.heartbeat.intervalMs } : {}),
    ...(options.heartbeat?.missedBeats !== undefined ? { missedBeats: options.heartbeat.missedBeats } : {}),
    onReleased: () => {
      processor.wake();
      dispatcher.wake();
    },
  });
  let started = false;
  const unready = (): string[] => {
    if (!started) return ['not started'];
    const reasons: string[] = [];
    // Reasons name the part, not its error: /readyz is open and must not show hosts or configuration.
    if (beats.trouble() !== undefined) reasons.push('the store does not answer');
    const now = Date.now();
    for (const loop of loops()) {
      if (loop.status === 'error') reasons.push(`${loop.name}: failing`);
      else if (loop.lastTickAt !== null && now - loop.lastTickAt > LOOP_STALL_MS) reasons.push(`${loop.name}: no round for ${Math.round((now - loop.lastTickAt) / 1000)} s`);
    }
    return reasons;
  };
  const deadMansSwitch = options.heartbeat?.deadMansSwitchUrl
    ? new DeadMansSwitch(options.heartbeat.deadMansSwitchUrl, options.heartbeat.deadMansSwitchIntervalMs ?? DEFAULTS.deadMansSwitchIntervalMs, () => unready()[0], log.child({ component: 'heartbeat-url' }))
    : undefined;

  if (metrics) metricsRoute(app, { metrics, access, token: options.metricsToken });
  // Liveness: answers while the process runs, whatever the store does (restarting a process cannot fix a database).
  app.get('/healthz', async () => {
    const stats = await store.stats().catch((error: unknown) => {
      log.warn({ err: error }, 'health check could not count the queue');
      return undefined;
    });
    return { status: 'ok', store: store.driver, ...(stats ?? { storeAnswers: false }), ...(admission ? { admission: admission.status() } : {}) };
  });
  // Readiness: the store answers (this process's beats land), migrations are applied (the store opened), the loops go round.
  app.get('/readyz', async (_request, reply) => {
    const reasons = unready();
    if (reasons.length > 0) return reply.code(503).send({ status: 'unready', reasons });
    return { status: 'ready' };
  });

  const start = async () => {
    if (started) return;
    started = true;
    await beats.start();
    if (options.process !== false) processor.start();
    if (options.deliver !== false) dispatcher.start();
    if (options.pull !== false) sources.start();
    monitorRunner.start();
    deadMansSwitch?.start();
  };
  let closed = false;
  return {
    app,
    store,
    processor,
    dispatcher,
    sources,
    monitors: monitorRunner,
    processId,
    log,
    start,
    unready,
    async listen({ port = DEFAULTS.port, host = DEFAULTS.host } = {}) {
      await start();
      const address = await app.listen({ port, host });
      listening = true;
      return address;
    },
    async close() {
      if (closed) return;
      closed = true;
      listening = false;
      await deadMansSwitch?.stop();
      await app.close();
      await monitorRunner.stop();
      await sources.close();
      await inbox.drain();
      await processor.stop();
      await dispatcher.stop();
      // After the loops let go of what they finished: hands back whatever is still held, at once.
      await beats.stop();
      for (const stop of stopWaking) stop?.();
      await store.close();
      // Last: exports the spans of everything the loops finished.
      await tracing?.close().catch((error: unknown) => log.warn({ err: error }, 'could not export the last spans'));
    },
  };
}
