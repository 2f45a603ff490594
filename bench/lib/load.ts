// Open-loop load: sends events at a fixed rate whatever the answers do (so a
// slow server shows up as latency, not as a politely slower client), each to
// its own customer key, and remembers when each one left.
import { Pool } from 'undici';
import { API_KEY } from './child.js';
import { contactEnvelope } from './events.js';

export interface PacedRun {
  sent: number;
  failed: number;
  /** performance.now() at send, by `CC-<key>@1` (every key is new, so its first change is version 1). */
  sentAt: Map<string, number>;
}

let keySeq = 0;

/** `prefix` becomes part of a document number, so it must not contain the key separator `-`. */
export async function sendAtRate(url: string, ratePerSec: number, seconds: number, prefix: string): Promise<PacedRun> {
  if (prefix.includes('-')) throw new RangeError(`prefix "${prefix}" would put the key separator into document numbers`);
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
      const number = `${prefix}${keySeq++}`;
      const body = JSON.stringify(contactEnvelope(number));
      run.sentAt.set(`CC-${number}@1`, performance.now());
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
