// Thrown by a sink or function integration to ask for a retry no sooner than
// `retryAfterMs` (the receiver said "not now", like HTTP 429 with Retry-After).
import { ConfluoError } from './confluo-error.js';

export class RetryAfterError extends ConfluoError {
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number, message = `retry after ${retryAfterMs} ms`, options: { cause?: unknown } = {}) {
    super('RETRY_AFTER', message, { cause: options.cause, retryable: true });
    this.retryAfterMs = retryAfterMs;
  }
}
