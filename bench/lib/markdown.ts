// Rewrites the results part of BENCHMARKS.md (between the markers) after a
// full run; the prose around it is kept as written.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine, table, type Row } from './report.js';

const START = '<!-- results:start -->';
const END = '<!-- results:end -->';

export function writeBenchmarksMd(rows: Row[], quick: boolean, startedAt: Date, root: string): void {
  const file = join(root, 'BENCHMARKS.md');
  const m = machine();
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.scenario}, ${r.metric}: ${r.note}`);
  const section = [
    START,
    `Run of ${startedAt.toISOString()}${quick ? ' (--quick: shorter runs, smaller counts)' : ''} on ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, SQLite ${m.sqlite}.`,
    '',
    table(rows),
    '',
    ...notes,
    END,
  ].join('\n');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmarks\n\n${START}\n${END}\n`;
  const at = current.indexOf(START);
  const end = current.indexOf(END);
  const next = at >= 0 && end > at ? `${current.slice(0, at)}${section}${current.slice(end + END.length)}` : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
}
