// How far V8 lets the old generation grow before its next full collection.
import { setFlagsFromString } from 'node:v8';

/**
 * V8 lets the old generation grow to up to four times what survived the last full collection
 * before it collects again. Under bulk load a hub promotes request bodies and rows that wait on a
 * commit through two scavenges and die soon after, so the old generation filled with garbage: about
 * 30 MiB survived each full collection, yet the heap reached 150-185 MiB between them. Capping the
 * growth at 1.25× keeps the heap near what is in use.
 *
 * Measured on the 2-core benchmark machine (2026-12-03), 1,000,000 events bulk-ingested and
 * processed by one hub: peak RSS 330-338 MiB with V8's own growth, 245-250 MiB at 1.5×, 234-237
 * MiB at 1.25×. Rates, alternating runs: an ingest-only hub under bulk load 76,000 (V8's growth)
 * against 77,400 events/s (1.5×), then 68,300 (1.5×) against 68,200 (1.25×), medians of 3;
 * processing in process within the runs' noise (21,400-28,000 events/s whichever the growth).
 * A full collection now comes more often, but each has the same ~30 MiB to mark.
 */
export const HEAP_GROWING_PERCENT = 25;

/**
 * Applies {@link HEAP_GROWING_PERCENT} unless the process was started with a growth of its own
 * (`node --heap-growing-percent=…`). V8 reads the flag at each full collection, so setting it once
 * the process runs takes effect from the next one. Node does not accept it in NODE_OPTIONS.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
