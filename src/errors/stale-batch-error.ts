// A processing batch lost a race: a record or event changed after it was claimed.
// Nothing was written; the processor claims again.
import { ConfluoError } from './confluo-error.js';

export class StaleBatchError extends ConfluoError {
  constructor(message: string) {
    super('STALE_BATCH', message, { retryable: true });
  }
}
