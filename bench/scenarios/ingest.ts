// 1. Ingest: events/s accepted over POST /events by N keep-alive connections
// (autocannon), against a bare Node http server that parses the same body and
// stores nothing; and the bulk path, 1,000 envelopes a request.
import autocannon from 'autocannon';
import { join } from 'node:path';
import { request } from 'undici';
import { API_KEY, startChild, startHub } from '../lib/child.js';
import { contactEnvelope } from '../lib/events.js';
import type { BenchContext, Row } from '../lib/report.js';

async function load(url: string, path: string, connections: number, seconds: number, body: () => string, headers: Record<string, string>) {
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: [{ method: 'POST', path, headers: { 'content-type': 'application/json', ...headers }, setupRequest: (req) => ({ ...req, body: body() }) }],
  });
  if (result.errors > 0 || result.non2xx > 0) throw new Error(`load on ${path} had ${result.errors} errors and ${result.non2xx} non-2xx answers`);
  return result.requests.average;
}

export async function ingest(ctx: BenchContext): Promise<Row[]> {
  const seconds = ctx.quick ? 5 : 20;
  const connections = 128;
  let key = 0;
  const single = () => JSON.stringify(contactEnvelope(String(key++ % 10_000)));
  const auth = { authorization: `Bearer ${API_KEY}` };

  const bare = await startChild(['--import', 'tsx', 'bench/lib/bare-http.ts']);
  const bareRate = await load(bare.url, '/events', connections, seconds, single, auth);
  await bare.stop();

  // Processing is off here: this measures the accept path (validate, commit, answer) alone.
  const hub = await startHub({ dbPath: join(ctx.dir, 'ingest.db'), env: { CONFLUO_ROLE: 'ingest' } });
  const probe = await request(`${hub.url}/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: single() });
  const answer = (await probe.body.json()) as { name: string };
  if (answer.name !== 'crm:contact:updated:response') throw new Error(`hub refused the bench event: ${JSON.stringify(answer)}`);
  const hubRate = await load(hub.url, '/events', connections, seconds, single, auth);

  // Serialising 1,000 envelopes per request made the load generator the bottleneck; a template
  // with a per-request marker keeps every event id unique at a fraction of the cost.
  const perRequest = 1000;
  const template = JSON.stringify(Array.from({ length: perRequest }, (_, i) => ({ ...contactEnvelope(String(i)), id: `bulk-@@-${i}` })));
  let bulkRequest = 0;
  const bulk = () => template.replaceAll('@@', String(bulkRequest++));
  const bulkRequests = await load(hub.url, '/events/bulk', 4, seconds, bulk, auth);
  await hub.stop();

  return [
    { scenario: 'ingest', metric: `single events/s (${connections} connections)`, value: hubRate, baseline: bareRate, baselineName: 'bare node http, same body', target: { ratio: 0.5 } },
    { scenario: 'ingest', metric: `bulk events/s (${perRequest} per request)`, value: bulkRequests * perRequest, target: { value: 100_000 } },
  ];
}
