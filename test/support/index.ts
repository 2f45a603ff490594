// Shared test fixtures: temporary folders, a hub on a real SQLite file behind a
// real HTTP port on 127.0.0.1, and small helpers to talk to it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { request } from 'undici';
import { flow as customerFlow } from '../../examples/customer-sync/flow.js';
import type { Flow } from '../../src/flow/flow.js';
import { createHub, type Hub, type HubOptions } from '../../src/hub/create-hub.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';

export function tempDir(prefix = 'confluo-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export const API_KEY = 'ck_test_key_0123456789abcdef';
export const ADMIN_TOKEN = 'cadm_test_token_0123456789abcdef';

export interface TestHub {
  hub: Hub;
  url: string;
  dbPath: string;
  /** POSTs one envelope (or any body) to /events and returns the parsed answer. */
  send: (body: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: Record<string, any> }>;
  /** GET with the admin token. */
  get: (path: string, token?: string) => Promise<{ status: number; body: any }>;
  post: (path: string, token?: string) => Promise<{ status: number; body: any }>;
  /** Any admin call, with an optional JSON body. */
  call: (method: 'GET' | 'POST', path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  close: () => Promise<void>;
}

export interface TestHubOptions extends Partial<Omit<HubOptions, 'store'>> {
  flow?: Flow;
  /** Reuse a database file (for restarts). */
  dbPath?: string;
  /** Another store (e.g. PostgreSQL), already initialised; the hub closes it. `dbPath` is then unused. */
  store?: Store;
}

export async function startTestHub(options: TestHubOptions = {}): Promise<TestHub> {
  const dir = options.dbPath || options.store ? undefined : tempDir();
  const dbPath = options.dbPath ?? (dir ? join(dir.path, 'confluo.db') : '');
  const store = options.store ?? new SqliteStore({ path: dbPath });
  if (!options.store) await store.init();
  const hub = await createHub({
    apiKeys: [API_KEY],
    adminTokens: [ADMIN_TOKEN],
    logger: pino({ level: 'silent' }),
    ...options,
    flow: options.flow ?? customerFlow,
    store,
    processor: { idlePollMs: 20, ...options.processor },
  });
  const url = await hub.listen({ port: 0 });
  const call = (method: 'GET' | 'POST', path: string, token = ADMIN_TOKEN, body?: unknown) => apiCall(url, method, path, token, body);
  return {
    hub,
    url,
    dbPath,
    async send(body, headers = { authorization: `Bearer ${API_KEY}` }) {
      const response = await request(`${url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: response.statusCode, body: (await response.body.json()) as Record<string, any> };
    },
    get: (path, token) => call('GET', path, token),
    post: (path, token) => call('POST', path, token),
    call: (method, path, body) => call(method, path, ADMIN_TOKEN, body),
    async close() {
      await hub.close();
      dir?.remove();
    },
  };
}

/** One call of the HTTP API with a bearer token and an optional JSON body; the answer parsed. */
export async function apiCall(url: string, method: 'GET' | 'POST' | 'DELETE', path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await request(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
}

let counter = 0;
/** An envelope for the customer-sync flow with fresh ids. */
export function envelope(name: string, payload: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  counter += 1;
  return { name, version: 1, id: `evt-${process.pid}-${Date.now()}-${counter}`, flowId: `flow-${counter}`, payload, identity: {}, auth: {}, metadata: {}, ...extra };
}

export const contact = (number: string, name: string, email = `${name.toLowerCase()}@example.com`) =>
  ({ documentType: 'CC', documentNumber: number, name, email });

/** Polls until `check` returns a truthy value, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
