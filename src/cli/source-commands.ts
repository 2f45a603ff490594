// Operator commands for scheduled sources, on the database directly: list
// them, run one now (here, under the same lease a hub takes), show what it
// rejected, and forget a checkpoint (after asking).
import { createInterface } from 'node:readline/promises';
import pino from 'pino';
import { ConfigError } from '../errors/index.js';
import { resolveSettings, type ConfluoConfig } from '../hub/config.js';
import { showableCheckpoint } from '../sources/source-driver.js';
import { SourceRunner } from '../sources/source-runner.js';
import { recordCliAction, withStore, type StoreFlags } from './operator.js';

const out = (text: string) => process.stdout.write(`${text}\n`);
const when = (ms: number | null | undefined) => (ms === null || ms === undefined ? '-' : new Date(ms).toISOString());

export async function listSources(flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const sources = await store.sources.listSources();
    if (sources.length === 0) return out('no sources (a hub records them when it starts with a config that has some)');
    const now = Date.now();
    for (const s of sources) {
      const state = s.leaseUntil !== null && s.leaseUntil >= now ? 'running' : s.consecutiveFailures > 0 ? `failing (${s.consecutiveFailures} in a row)` : 'ok';
      out(`${s.name}  ${s.kind}  ${s.schedule}  ${state}  next run ${when(s.nextRunAt)}`);
      const r = s.lastRun;
      if (r) {
        out(`  last run ${when(r.startedAt)} ${r.trigger} ${r.status}: ${r.pages} pages, ${r.items} items, ${r.accepted} accepted, ${r.duplicates} duplicates, ${r.rejected} rejected, ${r.skipped} skipped${r.error ? `\n  error: ${r.error}` : ''}`);
      }
      out(`  checkpoint ${JSON.stringify(showableCheckpoint(s.checkpoint, []))} (${when(s.checkpointAt)})`);
    }
  });
}

export async function runSource(name: string, flags: StoreFlags & { config?: string }): Promise<void> {
  if (!flags.config) throw new ConfigError('sources run needs the hub config (--config <file>): the source and its flow are defined there');
  await withStore(flags, async (store, where) => {
    // A config named with --config is always read.
    const settings = resolveSettings(where.config as ConfluoConfig, process.env, flags);
    const log = pino({ level: 'warn' }, pino.destination(2));
    let pages = 0;
    const runner = new SourceRunner(store.sources, settings.flow, settings.sources, log, {
      ...settings.sourceRunner,
      onPage: (progress) => {
        pages += 1;
        process.stderr.write(`page ${pages}: ${progress.items} items, ${progress.accepted} new events, ${progress.rejected} rejected\n`);
      },
    });
    // Ctrl-C cancels the run: its committed pages stand and the source is free again at once.
    const interrupt = () => void runner.stop(5000);
    process.once('SIGINT', interrupt);
    try {
      await runner.register();
      const run = await runner.runNow(name).catch(async (error: unknown) => {
        await recordCliAction(store, 'source.run', name, `refused: ${(error as Error).message}`);
        throw error;
      });
      await recordCliAction(store, 'source.run', name, run.status === 'succeeded' ? 'done' : run.status, { runId: run.runId });
      out(JSON.stringify(run, (key, value: unknown) => (['startedAt', 'finishedAt'].includes(key) && typeof value === 'number' ? new Date(value).toISOString() : value), 2));
      if (run.status !== 'succeeded') process.exitCode = 1;
    } finally {
      process.off('SIGINT', interrupt);
      await runner.close();
    }
  });
}

export async function listRejected(name: string, flags: StoreFlags & { limit?: string; after?: string }): Promise<void> {
  const limit = Number(flags.limit ?? 50);
  const after = Number(flags.after ?? 0);
  if (!Number.isInteger(limit) || limit < 1) throw new ConfigError(`--limit must be a whole number from 1, got "${flags.limit}"`);
  if (!Number.isInteger(after) || after < 0) throw new ConfigError(`--after must be a rejected item's id, got "${flags.after}"`);
  await withStore(flags, async (store) => {
    if (!(await store.sources.getSource(name))) {
      process.stderr.write(`no source named ${name}\n`);
      process.exitCode = 1;
      return;
    }
    const items = await store.sources.listRejected(name, { after, limit });
    if (items.length === 0) return out(after ? 'no more rejected items' : `${name} rejected nothing`);
    for (const r of items) out(`#${r.id} ${when(r.at)} run ${r.runId} item ${r.itemId ?? '-'}: ${r.reason}\n  ${JSON.stringify(r.raw)}`);
    if (items.length === limit) out(`(more: --after ${items.at(-1)?.id})`);
  });
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export async function resetCheckpoint(name: string, flags: StoreFlags & { yes?: boolean }): Promise<void> {
  await withStore(flags, async (store) => {
    const source = await store.sources.getSource(name);
    if (!source) {
      process.stderr.write(`no source named ${name}\n`);
      process.exitCode = 1;
      return;
    }
    if (!flags.yes) {
      if (!process.stdin.isTTY) throw new ConfigError('reset-checkpoint needs confirmation: run it in a terminal, or pass --yes');
      const ok = await confirm(
        `${name} will read from the beginning on its next run (checkpoint now ${JSON.stringify(showableCheckpoint(source.checkpoint, []))}). Items already read are not applied twice (event ids deduplicate), but they are fetched again. Reset? [y/N] `,
      );
      if (!ok) return out('nothing changed');
    }
    const result = await store.sources.resetSourceCheckpoint(name, Date.now());
    await recordCliAction(store, 'source.reset', name, result === 'reset' ? 'done' : result);
    if (result === 'running') {
      process.stderr.write(`${name} is running now; reset it when that run ends\n`);
      process.exitCode = 1;
      return;
    }
    out(`${name}: checkpoint forgotten; the next run reads from the beginning`);
  });
}
