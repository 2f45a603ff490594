// Open-loop load: sends events at a fixed rate whatever the answers do (so a
// slow server shows up as latency, not as a politely slower client), each to
// its own customer key or spread over a set of customers updated again and
// again, and remembers when each one left.
import { Pool } from 'undici';
import { API_KEY } from './child.js';
import { contactEnvelope } from './events.js';

export interface PacedRun {
  sent: number;
  failed: number;
  /** performance.now() at send, by `CC-<key>@<version>`: the n-th event of a key makes its version n (every key belongs to this run). */
  sentAt: Map<string, number>;
}

/**
 * Which customers the events go to. `new`: every event to a customer of its own. `reused`: the
 * keys are shared, each updated every `everySeconds` on average (so `rate × everySeconds`
 * customers), round robin, the way real customers get many updates.
 */
export type KeyShape = { kind: 'new' } | { kind: 'reused'; everySeconds: number };

export const NEW_KEYS: KeyShape = { kind: 'new' };
/** The shape the benchmarks reuse keys in: at 1,000 events/s, 2,000 customers each updated about every 2 s. */
export const REUSED_KEYS: KeyShape = { kind: 'reused', everySeconds: 2 };

/** Both shapes every end-to-end scenario runs in, with the words its rows name them by. */
export const KEY_SHAPES = [
  { name: 'new', keys: NEW_KEYS, label: 'every key new' },
  { name: 'reused', keys: REUSED_KEYS, label: 'keys reused: 2,000 customers, each updated about every 2 s' },
] as const;

let keySeq = 0;

/** `prefix` becomes part of a document number, so it must not contain the key separator `-`. */
export async function sendAtRate(url: string, ratePerSec: number, seconds: number, prefix: string, keys: KeyShape = NEW_KEYS): Promise<PacedRun> {
  if (prefix.includes('-')) throw new RangeError(`prefix "${prefix}" would put the key separator into document numbers`);
  const customers = keys.kind === 'reused' ? Math.max(1, Math.round(ratePerSec * keys.everySeconds)) : 0;
  const versions = new Map<string, number>();
  const pool = new Pool(url, { connections: 64, pipelining: 1 });
  const run: PacedRun = { sent: 0, failed: 0, sentAt: new Map() };
  const tickMs = 10;
  const total = Math.round(ratePerSec * seconds);
  const inflight = new Set<Promise<void>>();
  const started = performance.now();
  while (run.sent < total) {
    // What is due follows the clock, not the number of wake-ups: timers fire early or late.
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * ratePerSec));
    while (run.sent < due) {
      const number = customers > 0 ? `${prefix}${run.sent % customers}` : `${prefix}${keySeq++}`;
      const version = (versions.get(number) ?? 0) + 1;
      if (customers > 0) versions.set(number, version);
      const body = JSON.stringify(contactEnvelope(number));
      run.sentAt.set(`CC-${number}@${version}`, performance.now());
      run.sent += 1;
      const p = pool
        .request({ path: '/events', method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body })
        .then(async (r) => {
          const text = await r.body.text();
          if (!text.includes('"accepted"')) run.failed += 1;
        })
        .catch(() => void (run.failed += 1))
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(inflight);
  await pool.close();
  return run;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
