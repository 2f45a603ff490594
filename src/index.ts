// Confluo's public API. Drivers live behind subpath exports (`confluo/store/sqlite`).
export * from './flow/index.js';
export * from './errors/index.js';
export { createHub, type Hub, type HubOptions } from './hub/create-hub.js';
export { defineConfig, type ConfluoConfig } from './hub/config.js';
export { openStore } from './hub/open-store.js';
export type { Store, ClaimedBatch } from './store/store.js';
export type * from './store/types.js';
export { HandlerRegistry, respond, redirect, EventError, createEventClient, type EventHandler, type SendResult } from './protocol/index.js';
