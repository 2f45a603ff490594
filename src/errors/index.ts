export { ConfluoError, type ConfluoErrorOptions } from './confluo-error.js';
export { FlowDefinitionError } from './flow-definition-error.js';
export { ConfigError } from './config-error.js';
export { StaleBatchError } from './stale-batch-error.js';
export { NonRetryableError } from './non-retryable-error.js';
export { RetryAfterError } from './retry-after-error.js';
