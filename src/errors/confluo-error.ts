// The base of every error Confluo raises on purpose: a stable `code`, whether a
// retry could help, and the `cause` kept for the logs.

export interface ConfluoErrorOptions {
  cause?: unknown;
  /** Extra facts for the caller (field paths, limits); they travel to the API answer. */
  details?: Record<string, unknown>;
  /** @defaultValue false */
  retryable?: boolean;
}

export class ConfluoError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: ConfluoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}
