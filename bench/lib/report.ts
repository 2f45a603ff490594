// Benchmark rows, the console table, the JSON results and BENCHMARKS.md.
import { cpus, totalmem, release } from 'node:os';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export interface BenchContext {
  quick: boolean;
  /** A scratch folder for this run's databases. */
  dir: string;
}

export interface Row {
  scenario: string;
  metric: string;
  value: number;
  unit?: string;
  baseline?: number;
  baselineName?: string;
  /** `ratio`: value / baseline at least this; `value`: at least this; `max`: at most this. */
  target?: { ratio?: number; value?: number; max?: number };
  note?: string;
}

export const ratioOf = (row: Row) => (row.baseline ? row.value / row.baseline : undefined);

export function verdict(row: Row): 'pass' | 'miss' | '' {
  const t = row.target;
  if (!t) return '';
  const r = ratioOf(row);
  if (t.ratio !== undefined && (r === undefined || r < t.ratio)) return 'miss';
  if (t.value !== undefined && row.value < t.value) return 'miss';
  if (t.max !== undefined && row.value > t.max) return 'miss';
  return 'pass';
}

const fmt = (n: number | undefined) => (n === undefined ? '' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));
const targetText = (row: Row) => {
  const t = row.target;
  if (!t) return '';
  return [t.ratio !== undefined ? `≥ ${t.ratio}× baseline` : '', t.value !== undefined ? `≥ ${fmt(t.value)}` : '', t.max !== undefined ? `≤ ${fmt(t.max)}` : ''].filter(Boolean).join(', ');
};

export function machine() {
  const db = new Database(':memory:');
  const sqlite = (db.prepare('select sqlite_version() v').get() as { v: string }).v;
  db.close();
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, sqlite };
}

export function table(rows: Row[]): string {
  const header = ['scenario', 'metric', 'value', 'baseline', 'ratio', 'target', ''];
  const lines = rows.map((r) => [r.scenario, r.metric, `${fmt(r.value)}${r.unit ? ` ${r.unit}` : ''}`, r.baseline === undefined ? '' : `${fmt(r.baseline)} (${r.baselineName ?? ''})`, fmt(ratioOf(r)), targetText(r), verdict(r)]);
  return [header, ['---', '---', '---', '---', '---', '---', '---'], ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export function save(rows: Row[], quick: boolean, startedAt: Date, root: string): string {
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify({ startedAt, quick, machine: machine(), rows: rows.map((r) => ({ ...r, ratio: ratioOf(r), verdict: verdict(r) })) }, null, 2)}\n`);
  return file;
}
