// What the processing scenarios share: an inbox filled with contact events,
// the processor run until that inbox is empty (timed), and the median of
// alternating rounds.
import type { Processor } from '../../src/engine/processor.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import { contactEnvelope } from './events.js';

/** A SQLite store whose inbox holds `events` contact events over `keys` keys, each with `metadata` when given. */
export async function filledStore(path: string, events: number, keys: number, metadata?: Record<string, unknown>): Promise<SqliteStore> {
  const store = new SqliteStore({ path });
  await store.init();
  for (let i = 0; i < events; i += 5000) {
    const chunk = Array.from({ length: Math.min(5000, events - i) }, (_, j) => {
      const e = contactEnvelope(String((i + j) % keys));
      const envelope = metadata ? { ...e, metadata } : e;
      return { eventId: e.id, name: e.name, version: 1, flowId: e.flowId, entity: 'customer', key: `CC-${(i + j) % keys}`, envelope, acceptedAt: Date.now() };
    });
    await store.inbox.accept(chunk);
  }
  return store;
}

/** Runs batches until `events` are settled or the inbox is empty; events per second. */
export async function drain(processor: Processor, events: number): Promise<number> {
  const started = performance.now();
  let done = 0;
  while (done < events) {
    const n = await processor.runOnce();
    if (n === 0) break;
    done += n;
  }
  return done / ((performance.now() - started) / 1000);
}

export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
