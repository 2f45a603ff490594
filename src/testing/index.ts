// `confluo/testing`: test a flow with its integrations as users write them.
// A hub on a throwaway SQLite file, events sent as over HTTP, a wait until the
// hub has done what it can, the records, audit and deliveries to check, and
// sinks that capture what would be sent. Works under vitest and node:test.
export { createTestHub, type SendOptions, type Sent, type TestHub, type TestHubOptions, type TestRecord } from './test-hub.js';
export { captureSink, type CaptureOptions, type CaptureSink, type CaptureSinkOptions, type CapturedRequest } from './capture-sink.js';
export { EventRefusedError } from './event-refused-error.js';
