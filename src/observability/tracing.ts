// Optional OpenTelemetry spans, exported over OTLP/HTTP: one for each event
// accepted, one for its processing, one for each delivery attempt. Off unless
// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set; then the SDK
// is loaded (a dynamic import, so a hub without it never loads a byte of it)
// and the hub's hot paths call in through a single `if (tracing)`.
//
// Spans join across processes and retries through the stored traceparents, not
// through in-memory context: the accept span's context is what the event keeps
// (`metadata.traceparent`), the process span is its child, and the deliveries
// the event causes carry the process span's context, which each attempt span
// (and the receiving system) continues. No global provider is registered: each
// hub has its own, closed (flushed) with it.
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import type { EventResult } from '../engine/outcomes.js';
import type { Flow } from '../flow/flow.js';
import type { Delivery, DeliveryAttempt } from '../store/delivery-types.js';
import type { InboxEvent } from '../store/types.js';
import { formatTraceparent, parseTraceparent, storedTraceparent } from './trace-context.js';

export interface TracingOptions {
  /** Where the settings come from. @defaultValue process.env */
  env?: Record<string, string | undefined>;
  /** Spans kept before an export; passed to the BatchSpanProcessor. @defaultValue its own (OTEL_BSP_* or 5000 ms) */
  scheduledDelayMillis?: number;
}

/** How an accepted event's span ended. */
export type AcceptOutcome = 'accepted' | 'duplicate' | 'refused' | 'failed';

export interface AcceptSpan {
  /** What the event keeps as `metadata.traceparent`: this span's context, so its processing continues it. */
  readonly traceparent: string;
  end(outcome: AcceptOutcome): void;
}

export interface ProcessSpan {
  /** What the event's deliveries carry as their `traceparent`: this span's context. */
  readonly traceparent: string;
  /** Closes the span once the event's batch committed. */
  end(result: EventResult): void;
}

export interface Tracing {
  /** Opens the accept span of an event as it arrives; the parent is its own traceparent, if valid. */
  accept(event: { id: string; name: string; flowId: string; metadata: Record<string, unknown> }): AcceptSpan;
  /** Opens the process span of an event, a child of the traceparent it was stored with. */
  process(event: InboxEvent, now: number, flow: Flow): ProcessSpan;
  /** Records a delivery attempt that settled, as a CLIENT span under the traceparent the request carried. */
  attempt(attempt: DeliveryAttempt, delivery: Delivery): void;
  /** Exports what is left and stops. */
  close(): Promise<void>;
}

/** The OTLP/HTTP traces URL the environment names, or undefined when span export is off. */
export function tracesEndpoint(env: Record<string, string | undefined>): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!base) return undefined;
  // The spec's rule for the base endpoint: the signal's path is appended.
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

const hex2 = (flags: number) => (flags & 0xff).toString(16).padStart(2, '0');

/**
 * Span export as the environment configures it, or undefined when it is off
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` unset, or
 * `OTEL_SDK_DISABLED=true`). Headers, timeouts, compression, sampling and batch sizes are the
 * SDK's own `OTEL_*` variables, read by it.
 */
export async function startTracing(options: TracingOptions = {}): Promise<Tracing | undefined> {
  const env = options.env ?? process.env;
  const url = tracesEndpoint(env);
  if (url === undefined || env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const [api, sdk, { OTLPTraceExporter }, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const { SpanKind, SpanStatusCode, ROOT_CONTEXT, trace } = api;
  const resource = resources
    .resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME?.trim() || 'confluo' })
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new sdk.BasicTracerProvider({
    resource,
    spanProcessors: [
      new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url }), options.scheduledDelayMillis === undefined ? {} : { scheduledDelayMillis: options.scheduledDelayMillis }),
    ],
  });
  const tracer: Tracer = provider.getTracer('confluo');

  const contextOf = (traceparent: unknown): Context => {
    const parent = parseTraceparent(traceparent);
    if (!parent) return ROOT_CONTEXT;
    return trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parseInt(parent.flags, 16), isRemote: true });
  };
  const traceparentOf = (span: Span): string => {
    const { traceId, spanId, traceFlags } = span.spanContext();
    return formatTraceparent({ traceId, spanId, flags: hex2(traceFlags) });
  };
  const messaging = (operation: string, type: string, event: { id: string; name: string; flowId: string }): Attributes => ({
    'messaging.system': 'confluo',
    'messaging.operation.name': operation,
    'messaging.operation.type': type,
    'messaging.message.id': event.id,
    'messaging.destination.name': event.name,
    'confluo.flow_id': event.flowId,
  });

  return {
    accept(event) {
      // The sender publishes into Confluo's inbox: a PRODUCER span, child of the sender's.
      const span = tracer.startSpan(`accept ${event.name}`, { kind: SpanKind.PRODUCER, attributes: messaging('accept', 'publish', event) }, contextOf(storedTraceparent(event.metadata)));
      return {
        traceparent: traceparentOf(span),
        end(outcome) {
          span.setAttribute('confluo.outcome', outcome);
          if (outcome === 'refused' || outcome === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
          span.end();
        },
      };
    },
    process(event, now, flow) {
      const span = tracer.startSpan(
        `process ${event.name}`,
        {
          kind: SpanKind.CONSUMER,
          startTime: now,
          attributes: {
            ...messaging('process', 'process', { id: event.eventId, name: event.name, flowId: event.flowId }),
            'confluo.rule': flow.ruleFor(event.name, event.version)?.name ?? '',
            'confluo.entity': event.entity,
          },
        },
        contextOf(storedTraceparent(event.envelope.metadata as Record<string, unknown> | undefined)),
      );
      return {
        traceparent: traceparentOf(span),
        end(result) {
          span.setAttribute('confluo.outcome', result.status);
          if (result.status === 'parked') {
            span.setAttribute('error.type', result.error.code);
            span.setStatus({ code: SpanStatusCode.ERROR, message: result.error.message });
          }
          span.end();
        },
      };
    },
    attempt(attempt, delivery) {
      const parent = contextOf(attempt.requestHeaders.traceparent ?? delivery.request?.headers?.traceparent);
      // Only an event's deliveries carry a trace; a digest or a monitor's announcement starts none.
      if (parent === ROOT_CONTEXT) return;
      const attributes: Attributes = {
        'http.request.method': attempt.method,
        'url.full': attempt.url, // masked by the sink
        'confluo.integration': delivery.integration,
        'confluo.delivery_id': delivery.deliveryId,
        'confluo.attempt': attempt.attempt,
        'confluo.outcome': attempt.outcome,
        'http.request.resend_count': attempt.attempt - 1,
      };
      const server = serverOf(attempt.url);
      if (server) {
        attributes['server.address'] = server.address;
        if (server.port !== undefined) attributes['server.port'] = server.port;
      }
      if (attempt.status !== null) attributes['http.response.status_code'] = attempt.status;
      const failed = attempt.outcome !== 'succeeded';
      if (failed) attributes['error.type'] = attempt.status !== null && attempt.status >= 400 ? String(attempt.status) : '_OTHER';
      const span = tracer.startSpan(`deliver ${delivery.integration}`, { kind: SpanKind.CLIENT, startTime: attempt.startedAt, attributes }, parent);
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR, ...(attempt.error ? { message: attempt.error } : {}) });
      span.end(attempt.startedAt + attempt.durationMs);
    },
    async close() {
      await provider.shutdown();
    },
  };
}

/** The host and port of an http(s) URL, for `server.address` and `server.port`. */
function serverOf(url: string): { address: string; port: number | undefined } | undefined {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
    return { address: parsed.hostname, port: parsed.port === '' ? undefined : Number(parsed.port) };
  } catch {
    return undefined;
  }
}
