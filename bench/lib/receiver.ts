// A keep-alive receiver for deliveries: answers 204 at once and notes when
// each one arrived, by the path's key and the body's version.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BenchReceiver {
  url: string;
  count: number;
  /** Arrival time (performance.now()) of the first delivery seen per `key@version`. */
  arrivals: Map<string, number>;
  waitFor(count: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startBenchReceiver(): Promise<BenchReceiver> {
  const state: BenchReceiver = { url: '', count: 0, arrivals: new Map(), waitFor: async () => undefined, close: async () => undefined };
  let waiter: { count: number; resolve: () => void } | undefined;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const now = performance.now();
      const key = decodeURIComponent((req.url ?? '').split('/').at(-1) ?? '');
      let version: unknown;
      try {
        version = (JSON.parse(body) as { version?: unknown }).version;
      } catch {
        version = undefined;
      }
      const id = `${key}@${String(version)}`;
      if (!state.arrivals.has(id)) {
        state.arrivals.set(id, now);
        state.count += 1;
      }
      res.writeHead(204).end();
      if (waiter && state.count >= waiter.count) {
        waiter.resolve();
        waiter = undefined;
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.waitFor = (count, timeoutMs) =>
    new Promise((resolve, reject) => {
      if (state.count >= count) return resolve();
      const timer = setTimeout(() => reject(new Error(`receiver got ${state.count} of ${count} deliveries in ${timeoutMs} ms`)), timeoutMs);
      waiter = { count, resolve: () => (clearTimeout(timer), resolve()) };
    });
  state.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
