// Profiles only the dispatcher sending pending deliveries (not the store fill):
// `tsx bench/profile-delivery.ts [count] [--no-profile]` writes delivery.cpuprofile to the
// OS temp dir and prints the rate, the CPU time per delivery (steadier than the rate on a
// shared machine) and the heaviest functions. The receiver runs in a child.
import { Session } from 'node:inspector/promises';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Dispatcher } from '../src/delivery/dispatcher.js';
import { startChild } from './lib/child.js';
import { heaviest } from './lib/cpu-profile.js';
import { deskIntegration, pendingDeliveries } from './scenarios/delivery.js';

const count = Number(process.argv[2] ?? 20_000);
const profiling = !process.argv.includes('--no-profile');
const dir = mkdtempSync(join(tmpdir(), 'confluo-profile-'));
const receiver = await startChild(['--import', 'tsx', 'bench/lib/bare-http.ts']);
const store = await pendingDeliveries(join(dir, 'd.db'), count);
let finished: () => void = () => undefined;
const allDone = new Promise<void>((resolve) => (finished = resolve));
const dispatcher = new Dispatcher(store.deliveries, [deskIntegration(receiver.url, count, () => finished())], pino({ level: 'silent' }), { pollMs: 5 });
const session = new Session();
session.connect();
if (profiling) {
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const started = performance.now();
const cpuBefore = process.cpuUsage();
dispatcher.start();
await allDone;
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const cpuPerDelivery = (cpu.user + cpu.system) / count;
await dispatcher.stop();
await store.close();
await receiver.stop();
process.stdout.write(`${Math.round(count / seconds)} deliveries/s, ${cpuPerDelivery.toFixed(1)} µs CPU per delivery (user ${(cpu.user / count).toFixed(1)}, system ${(cpu.system / count).toFixed(1)})\n`);
if (profiling) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(join(dir, 'delivery.cpuprofile'), JSON.stringify(profile));
  process.stdout.write(`profile in ${dir}\n${heaviest(profile)}\n`);
}
