// Thrown by a sink or function integration when trying again cannot help
// (the receiver rejected the request for good). The delivery fails at once.
import { ConfluoError } from './confluo-error.js';

export class NonRetryableError extends ConfluoError {
  constructor(message: string, options: { cause?: unknown; code?: string } = {}) {
    super(options.code ?? 'NON_RETRYABLE', message, { cause: options.cause, retryable: false });
  }
}
