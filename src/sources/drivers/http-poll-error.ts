// An http-poll source could not read a page: the API answered an error status,
// did not answer in time, sent something that is not a page of JSON, or the run
// was cancelled. The message names the masked URL (never a token or password),
// the status and the start of the body; `retryable` says whether a later run
// could do better.
import { ConfluoError } from '../../errors/index.js';

export interface HttpPollErrorOptions {
  retryable: boolean;
  /** The masked URL of the request that failed. */
  url: string;
  status?: number;
  /** Requests made before giving up. */
  attempts?: number;
  cause?: unknown;
}

export class HttpPollError extends ConfluoError {
  constructor(message: string, options: HttpPollErrorOptions) {
    const { retryable, cause, url, status, attempts } = options;
    super('SOURCE_HTTP_FAILED', message, {
      retryable,
      cause,
      details: { url, ...(status === undefined ? {} : { status }), ...(attempts === undefined ? {} : { attempts }) },
    });
  }
}
