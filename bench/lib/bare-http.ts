// Baseline for ingest: a bare Node http server that parses the same JSON body
// and answers 200, storing nothing. Run as a child: `tsx bench/lib/bare-http.ts`.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (body += chunk));
  req.on('end', () => {
    const parsed = JSON.parse(body) as { id?: string };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ name: 'ok:response', id: parsed.id ?? null }));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
