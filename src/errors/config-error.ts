// Configuration that cannot start a hub: a bad env variable, a config file that
// does not load, an unknown database URL.
import { ConfluoError } from './confluo-error.js';

export class ConfigError extends ConfluoError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, options);
  }
}
