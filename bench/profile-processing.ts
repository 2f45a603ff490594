// Profiles only the processing loop (not the inbox fill): `tsx bench/profile-processing.ts`
// writes processing.cpuprofile to the OS temp dir and prints the heaviest functions.
import { Session } from 'node:inspector/promises';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { flow } from '../examples/customer-sync/flow.js';
import { integrationsFromEnv } from '../examples/customer-sync/integrations.js';
import { createOutbox } from '../src/delivery/outbox.js';
import { Processor } from '../src/engine/processor.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { contactEnvelope } from './lib/events.js';

const dir = mkdtempSync(join(tmpdir(), 'confluo-profile-'));
const store = new SqliteStore({ path: join(dir, 'p.db') });
await store.init();
const events = 50_000;
for (let i = 0; i < events; i += 5000) {
  await store.inbox.accept(
    Array.from({ length: 5000 }, (_, j) => {
      const e = contactEnvelope(String((i + j) % 10_000));
      return { eventId: e.id, name: e.name, version: 1, flowId: e.flowId, entity: 'customer', key: `CC-${(i + j) % 10_000}`, envelope: e, acceptedAt: Date.now() };
    }),
  );
}
const processor = new Processor(store.inbox, flow, pino({ level: 'silent' }), { outbox: createOutbox(integrationsFromEnv({ SUPPORT_DESK_URL: 'http://127.0.0.1:9' })) });
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.start');
const started = performance.now();
while ((await processor.runOnce()) > 0);
const seconds = (performance.now() - started) / 1000;
const { profile } = await session.post('Profiler.stop');
writeFileSync(join(dir, 'processing.cpuprofile'), JSON.stringify(profile));
const self = new Map<string, number>();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
let total = 0;
profile.samples!.forEach((id, i) => {
  const node = byId.get(id)!;
  const key = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').slice(-2).join('/')}:${node.callFrame.lineNumber + 1}`;
  const dt = profile.timeDeltas![i] ?? 0;
  self.set(key, (self.get(key) ?? 0) + dt);
  total += dt;
});
process.stdout.write(`${Math.round(events / seconds)} events/s; profile in ${dir}\n`);
for (const [key, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${key}\n`);
await store.close();
