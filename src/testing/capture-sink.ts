// Capturing what an integration would send: an undici MockAgent that answers
// every request itself and keeps it (URL, method, headers with the Standard
// Webhooks signature, body). An HTTP sink sent `through` it builds each request
// exactly as it would for the network; nothing leaves the process.
import { MockAgent, type Dispatcher } from 'undici';
import type { Sink } from '../delivery/sink.js';
import { httpSink } from '../delivery/sinks/http-sink.js';

export interface CapturedRequest {
  /** As sent: the URL template filled in, secrets not masked. */
  url: string;
  method: string;
  /** Lower-case names; with a secret, `webhook-id`, `webhook-timestamp` and `webhook-signature`. */
  headers: Record<string, string>;
  /** The body parsed as JSON (undefined when there was none or it was not JSON). */
  body: unknown;
  /** The body exactly as sent: what a signature signs. */
  raw: string;
  /** The status the capture answered with. */
  status: number;
}

export interface CaptureOptions {
  /**
   * The status each request is answered with: a number, or a function of the request and how many
   * came before it (e.g. `(_, n) => (n === 0 ? 503 : 200)` for a retry that then succeeds).
   * @defaultValue 200
   */
  status?: number | ((request: Omit<CapturedRequest, 'status'>, index: number) => number);
}

/** A capture: the requests so far, and the dispatcher that answers and keeps them. */
export interface Capture {
  readonly requests: readonly CapturedRequest[];
  readonly dispatcher: Dispatcher;
}

type SentHeaders = Dispatcher.DispatchOptions['headers'];

function headerRecord(headers: SentHeaders): Record<string, string> {
  const pairs: Array<[string, unknown]> = [];
  if (Array.isArray(headers)) for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([String(headers[i]), headers[i + 1]]);
  else if (headers && typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') pairs.push(...(headers as Iterable<[string, unknown]>));
  else if (headers) pairs.push(...Object.entries(headers));
  return Object.fromEntries(pairs.map(([name, value]) => [name.toLowerCase(), Array.isArray(value) ? value.join(', ') : String(value)]));
}

const parsed = (raw: string): unknown => {
  try {
    return raw === '' ? undefined : JSON.parse(raw);
  } catch {
    return undefined;
  }
};

export function createCapture(options: CaptureOptions = {}): Capture {
  const requests: CapturedRequest[] = [];
  const agent = new MockAgent();
  // Nothing reaches the network, whatever the URL.
  agent.disableNetConnect();
  agent
    .get(() => true)
    .intercept({ path: () => true, method: () => true })
    .reply((sent) => {
      const raw = sent.body === undefined || sent.body === null ? '' : Buffer.isBuffer(sent.body) ? sent.body.toString('utf8') : String(sent.body);
      const request = { url: `${String(sent.origin).replace(/\/$/, '')}${sent.path}`, method: sent.method, headers: headerRecord(sent.headers as SentHeaders), body: parsed(raw), raw };
      const status = typeof options.status === 'function' ? options.status(request, requests.length) : (options.status ?? 200);
      requests.push({ ...request, status });
      return { statusCode: status, data: '' };
    })
    .persist();
  return { requests, dispatcher: agent };
}

export interface CaptureSinkOptions extends CaptureOptions {
  /**
   * A URL or template, as a REST sink takes it.
   * @defaultValue 'https://capture.confluo.test/{integration}/{key}'
   */
  url?: string;
  /** @defaultValue 'POST' */
  method?: string;
  headers?: Record<string, string>;
  /** A Standard Webhooks secret (`whsec_…`): each request is signed as a REST sink signs it. */
  secret?: string;
}

export interface CaptureSink extends Sink {
  /** Every request sent so far, retries included, oldest first. */
  readonly requests: readonly CapturedRequest[];
}

/** A sink for tests that records each request an integration sends and answers it (200 unless told). */
export function captureSink(options: CaptureSinkOptions = {}): CaptureSink {
  const capture = createCapture(options);
  const sink = httpSink({
    kind: 'capture',
    url: options.url ?? 'https://capture.confluo.test/{integration}/{key}',
    method: options.method,
    headers: options.headers,
    signingSecret: options.secret,
    dispatcher: capture.dispatcher,
  });
  return { ...sink, requests: capture.requests };
}
