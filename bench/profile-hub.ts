// Profiles the hub child under ingest load: `tsx bench/profile-hub.ts bulk|single [seconds]`
// starts it with --cpu-prof (processing off, as in the ingest scenario), drives the
// load, stops it, and prints the functions with the most self time.
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { heaviest, readProfile } from './lib/cpu-profile.js';
import { API_KEY, startHub } from './lib/child.js';
import { contactEnvelope } from './lib/events.js';

const mode = process.argv[2] ?? 'bulk';
const seconds = Number(process.argv[3] ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'confluo-profile-'));
const hub = await startHub({ dbPath: join(dir, 'hub.db'), env: { CONFLUO_ROLE: 'ingest' }, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });

let key = 0;
const perRequest = 1000;
const template = JSON.stringify(Array.from({ length: perRequest }, (_, i) => ({ ...contactEnvelope(String(i)), id: `bulk-@@-${i}` })));
let bulkRequest = 0;
const body = mode === 'bulk' ? () => template.replaceAll('@@', String(bulkRequest++)) : () => JSON.stringify(contactEnvelope(String(key++ % 10_000)));
const result = await autocannon({
  url: hub.url,
  connections: mode === 'bulk' ? 4 : 128,
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
await hub.stop();
const rate = result.requests.average * (mode === 'bulk' ? perRequest : 1);
// tsx's loader thread writes a profile too: the main thread's is the largest.
const file = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0];
if (!file) throw new Error(`the hub wrote no profile into ${dir}`);
process.stdout.write(`${Math.round(rate)} events/s (${result.errors} errors, ${result.non2xx} non-2xx); profile ${join(dir, file)}\n`);
process.stdout.write(`${heaviest(readProfile(join(dir, file)))}\n`);
