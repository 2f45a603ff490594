// `npm run bench [-- --quick]`: measures Confluo and, in the same run, the
// baselines that say how good that is; prints a table, writes
// bench/results/<time>.json and rewrites the results part of BENCHMARKS.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lib/child.js';
import { machine, save, table, type BenchContext, type Row } from './lib/report.js';
import { ingest } from './scenarios/ingest.js';
import { processing } from './scenarios/processing.js';
import { delivery } from './scenarios/delivery.js';
import { endToEnd } from './scenarios/end-to-end.js';
import { alternative } from './scenarios/alternative.js';
import { memory } from './scenarios/memory.js';
import { postgres } from './scenarios/postgres.js';
import { tracing } from './scenarios/tracing.js';
import { writeBenchmarksMd } from './lib/markdown.js';

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<Row[]>> = { ingest, processing, delivery, 'end-to-end': endToEnd, alternative, memory, postgres, tracing };

async function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const only = args.filter((a) => !a.startsWith('--'));
  const unknown = only.filter((name) => !(name in SCENARIOS));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; pick from ${Object.keys(SCENARIOS).join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'confluo-bench-'));
  const startedAt = new Date();
  const rows: Row[] = [];
  process.stdout.write(`Confluo benchmarks${quick ? ' (quick)' : ''} on ${JSON.stringify(machine())}\n`);
  try {
    for (const [name, run] of Object.entries(SCENARIOS)) {
      if (only.length > 0 && !only.includes(name)) continue;
      const t0 = performance.now();
      process.stdout.write(`\n▶ ${name} … `);
      const result = await run({ quick, dir });
      rows.push(...result);
      process.stdout.write(`${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`\n${table(rows)}\n`);
  const file = save(rows, quick, startedAt, ROOT);
  process.stdout.write(`\nresults: ${file}\n`);
  if (only.length === 0) writeBenchmarksMd(rows, quick, startedAt, ROOT);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
