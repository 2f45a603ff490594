// Confluo's public API. Drivers live behind subpath exports (`confluo/store/sqlite`).
export * from './flow/index.js';
export * from './errors/index.js';
export { createHub, type Hub, type HubOptions } from './hub/create-hub.js';
export { defineConfig, type ConfluoConfig } from './hub/config.js';
export { openStore } from './hub/open-store.js';
export type { Store, ClaimedBatch } from './store/store.js';
export type * from './store/types.js';
export { HandlerRegistry, respond, redirect, EventError, createEventClient, type EventHandler, type SendResult } from './protocol/index.js';
export { defineIntegration, skip, type Integration, type IntegrationOptions, type ChangeInput, type EventInput, type Skip } from './delivery/integration.js';
export { restSink, type RestSinkOptions } from './delivery/sinks/rest-sink.js';
export { slackSink, type SlackSinkOptions } from './delivery/sinks/slack-sink.js';
export { functionSink, type DeliveryFunction } from './delivery/sinks/function-sink.js';
export type { Sink, SinkContext, SinkResponse } from './delivery/sink.js';
export { parseDuration, parseDurationList } from './delivery/duration.js';
export type { RetryOptions } from './delivery/retry-policy.js';
export type { Alert } from './delivery/dispatcher.js';
export type { AuthOptions } from './delivery/auth/index.js';
