// One HTTP request and its answer on undici's `dispatch()`, the layer its
// `request()` is built on. A delivery keeps only the status, the headers and
// the start of the body, so the answer is not wrapped in a stream, an async
// resource and an abort listener: about 6 µs of CPU a delivery, measured in
// the dispatcher at thousands a second.
//
// The deadline holds from the moment of sending, queueing included: an
// exchange that runs out of time settles as timed out at once, and if undici
// has not started it yet, it is aborted when its turn comes, before a byte is
// written.
import { util, type Dispatcher } from 'undici';
import type { Deadlines, Expiring, Slot } from './deadline.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body decoded as UTF-8, cut to its first `excerpt` characters. */
  body: string;
}

/** What stays the same between a sink's requests. */
export interface ExchangeLimits {
  /** Characters of the body to keep; the rest is read and dropped, up to DRAIN_BYTES. */
  excerpt: number;
  deadlines: Deadlines;
}

/**
 * Bytes read and dropped past the kept start before the exchange settles and drops the connection:
 * reading a body to its end keeps the connection for the next request, but not a body without end.
 */
const DRAIN_BYTES = 1024 * 1024;

/** Thrown (as the rejection) when no answer came within the deadline. */
export class NoAnswerError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'NoAnswerError';
  }
}

/** How a started request is stopped: undici 7's controller, or the `abort` of the older API. */
interface Stopper {
  abort(reason: Error): void;
}

/**
 * Speaks both of undici's handler APIs: the one of undici 7 (`onRequestStart` …), and the
 * older one (`onConnect` …), which is what the undici inside Node 20 accepts. Node's `fetch`
 * installs that one's Agent as the process-wide dispatcher when it runs first, and a sink
 * given a dispatcher of its own may be given that one.
 */
class Exchange implements Dispatcher.DispatchHandler, Expiring {
  #stopper: Stopper | undefined;
  #status = 0;
  #headers: Record<string, string | string[] | undefined> = {};
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #dropped = 0;
  /** Set once the promise is settled; later callbacks only clean up. */
  #ended: Error | true | undefined;
  readonly #keepBytes: number;
  readonly #excerpt: number;
  readonly #timeoutMs: number;
  readonly #resolve: (answer: Answer) => void;
  readonly #reject: (error: unknown) => void;
  slot: Slot | undefined;

  constructor(timeoutMs: number, excerpt: number, resolve: (answer: Answer) => void, reject: (error: unknown) => void) {
    this.#excerpt = excerpt;
    // A character is at most 4 bytes of UTF-8: this many bytes always hold `excerpt` characters.
    this.#keepBytes = excerpt * 4;
    this.#timeoutMs = timeoutMs;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#start(controller);
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#start({ abort });
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.#head(statusCode, headers);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    this.#head(statusCode, util.parseHeaders(rawHeaders) as Record<string, string | string[] | undefined>);
    return true;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#data(chunk);
  }

  onData(chunk: Buffer): boolean {
    this.#data(chunk);
    return true;
  }

  onResponseEnd(): void {
    this.#end();
  }

  onComplete(): void {
    this.#end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.#fail(error);
  }

  onError(error: Error): void {
    this.#fail(error);
  }

  /** The deadline passed: settle now, and stop the request wherever it is. */
  expire(): void {
    if (this.#ended !== undefined) return;
    const error = new NoAnswerError(this.#timeoutMs);
    this.#ended = error;
    this.#reject(error);
    this.#stopper?.abort(error);
  }

  #start(stopper: Stopper): void {
    // Timed out while queued: abort before undici writes the request.
    if (this.#ended instanceof Error) stopper.abort(this.#ended);
    else this.#stopper = stopper;
  }

  #head(statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx answers are informational; the final one follows.
    if (statusCode < 200) return;
    this.#status = statusCode;
    this.#headers = headers;
  }

  #data(chunk: Buffer): void {
    if (this.#kept < this.#keepBytes) {
      this.#chunks.push(chunk);
      this.#kept += chunk.length;
      return;
    }
    this.#dropped += chunk.length;
    if (this.#dropped <= DRAIN_BYTES || this.#ended !== undefined) return;
    this.#end();
    this.#stopper?.abort(new Error(`answer body longer than ${DRAIN_BYTES} bytes: the rest is not read`));
  }

  #end(): void {
    this.slot?.delete(this);
    if (this.#ended !== undefined) return;
    this.#ended = true;
    const bytes = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    const text = bytes.length === 0 ? '' : bytes.toString('utf8', 0, Math.min(bytes.length, this.#keepBytes));
    this.#resolve({ status: this.#status, headers: this.#headers, body: text.length > this.#excerpt ? text.slice(0, this.#excerpt) : text });
  }

  #fail(error: Error): void {
    this.slot?.delete(this);
    if (this.#ended !== undefined) return;
    this.#ended = error;
    this.#reject(error);
  }
}

/** Sends one request through `dispatcher`; rejects with undici's error, or NoAnswerError after `timeoutMs`. */
export function exchange(dispatcher: Dispatcher, request: Dispatcher.DispatchOptions, timeoutMs: number, limits: ExchangeLimits): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const handler = new Exchange(timeoutMs, limits.excerpt, resolve, reject);
    handler.slot = limits.deadlines.after(timeoutMs, handler);
    try {
      dispatcher.dispatch(request, handler);
    } catch (error) {
      // A dispatcher may throw rather than call onResponseError (undici's own report bad options there).
      handler.onError(error as Error);
    }
  });
}
