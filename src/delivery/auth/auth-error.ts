// A sink could not get credentials: the token endpoint refused, failed or
// timed out. Retryable when waiting could help (network, 408, 429, 5xx); not
// when the credentials or the endpoint are wrong. The message never carries a
// secret, a password or a token.
import { ConfluoError } from '../../errors/index.js';

export interface AuthErrorOptions {
  retryable: boolean;
  cause?: unknown;
  /** `tokenUrl` (masked) and, when there was an answer, `status`. */
  details?: Record<string, unknown>;
}

export class AuthError extends ConfluoError {
  constructor(message: string, options: AuthErrorOptions) {
    super('AUTH_FAILED', message, options);
  }
}
