// A real local HTTP receiver that misbehaves on purpose: each request takes
// the next scripted answer (status, headers, delay, or a connection reset),
// and everything it received is kept for the test to inspect.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Answer = { status: number; headers?: Record<string, string>; delayMs?: number; body?: string } | 'reset';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: any;
  at: number;
  /** The status it was answered with, or `reset`. */
  answered: number | 'reset';
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Answers to give, in order; when empty, `fallback` answers (a function picks one per request). */
  script: Answer[];
  fallback: Answer | (() => Answer);
  /** Most requests seen in flight at once. */
  maxInFlight: number;
  close: () => Promise<void>;
}

export async function startReceiver(fallback: Receiver['fallback'] = { status: 200 }): Promise<Receiver> {
  let inFlight = 0;
  const receiver: Receiver = { url: '', received: [], script: [], fallback, maxInFlight: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      inFlight += 1;
      receiver.maxInFlight = Math.max(receiver.maxInFlight, inFlight);
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      const answer = receiver.script.shift() ?? (typeof receiver.fallback === 'function' ? receiver.fallback() : receiver.fallback);
      receiver.received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, body, at: Date.now(), answered: answer === 'reset' ? 'reset' : answer.status });
      const finish = () => {
        inFlight -= 1;
        if (answer === 'reset') {
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
        res.end(answer.body ?? (answer.status < 300 ? 'ok' : `error ${answer.status}`));
      };
      const delay = answer === 'reset' ? 0 : answer.delayMs ?? 0;
      if (delay > 0) setTimeout(finish, delay);
      else finish();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
