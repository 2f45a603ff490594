// Profiles the hub child under load: `tsx bench/profile-hub.ts bulk|single|all [seconds]`
// starts it with --cpu-prof, drives the load, stops it, and prints the functions with the
// most self time. `bulk` and `single` are the ingest scenario (processing off); `all` is
// the alternative scenario's job: every role on, 64 connections sending events whose
// changes go out to a local receiver as signed support-desk deliveries.
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { heaviest, readProfile } from './lib/cpu-profile.js';
import { API_KEY, startHub } from './lib/child.js';
import { contactEnvelope } from './lib/events.js';
import { startBenchReceiver } from './lib/receiver.js';

const mode = process.argv[2] ?? 'bulk';
if (!['bulk', 'single', 'all'].includes(mode)) throw new Error(`unknown mode ${mode}: bulk, single or all`);
const seconds = Number(process.argv[3] ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'confluo-profile-'));
const receiver = mode === 'all' ? await startBenchReceiver() : undefined;
const env = receiver ? { SUPPORT_DESK_URL: receiver.url, SUPPORT_DESK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' } : { CONFLUO_ROLE: 'ingest' };
const hub = await startHub({ dbPath: join(dir, 'hub.db'), env, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });

let key = 0;
const perRequest = mode === 'bulk' ? 1000 : 1;
const template = JSON.stringify(Array.from({ length: perRequest }, (_, i) => ({ ...contactEnvelope(String(i)), id: `bulk-@@-${i}` })));
let bulkRequest = 0;
const body = mode === 'bulk' ? () => template.replaceAll('@@', String(bulkRequest++)) : () => JSON.stringify(contactEnvelope(String(key++ % 10_000)));
const result = await autocannon({
  url: hub.url,
  connections: { bulk: 4, single: 128, all: 64 }[mode],
  duration: seconds,
  requests: [
    {
      method: 'POST',
      path: mode === 'bulk' ? '/events/bulk' : '/events',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      setupRequest: (req) => ({ ...req, body: body() }),
    },
  ],
});
const sent = result.requests.total * perRequest;
if (receiver) await receiver.waitFor(sent, 120_000);
await hub.stop();
await receiver?.close();
// tsx's loader thread writes a profile too: the main thread's is the largest.
const file = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0];
if (!file) throw new Error(`the hub wrote no profile into ${dir}`);
process.stdout.write(`${Math.round(result.requests.average * perRequest)} events/s accepted (${result.errors} errors, ${result.non2xx} non-2xx); profile ${join(dir, file)}\n`);
process.stdout.write(`${heaviest(readProfile(join(dir, file)))}\n`);
