// `confluo monitors`, on the database directly: what the config defines with
// each monitor's state, a monitor's transitions (paged), and pause / resume
// (recorded as operator actions; a paused monitor announces nothing).
import pino from 'pino';
import { monitorBodies } from '../api/health-view.js';
import { ConfigError } from '../errors/index.js';
import { createAnnouncer } from '../health/announcer.js';
import { MonitorRunner } from '../health/monitor-runner.js';
import type { Monitor } from '../health/monitor.js';
import { resolveSettings, type ConfluoConfig } from '../hub/config.js';
import type { Store } from '../store/store.js';
import { paint, table, type Colour } from './table.js';
import { recordCliAction, withStore, type Location, type StoreFlags } from './operator.js';

const out = (text: string) => process.stdout.write(`${text}\n`);
const dash = (value: string | number | null | undefined) => (value === null || value === undefined ? '-' : String(value));
const COLOURS: Record<string, Colour> = { up: 'green', late: 'yellow', degraded: 'yellow', flapping: 'yellow', error: 'red', down: 'red', paused: 'gray', new: 'gray' };

function configured(where: Location, flags: StoreFlags) {
  if (!where.config) return undefined;
  return resolveSettings(where.config as ConfluoConfig, process.env, flags);
}

export async function listMonitors(flags: StoreFlags & { json?: boolean }): Promise<void> {
  await withStore(flags, async (store, where) => {
    const monitors: Monitor[] = configured(where, flags)?.monitors ?? [];
    const items = monitorBodies(await store.health.listMonitors(), monitors);
    if (flags.json) return out(JSON.stringify({ items }, null, 2));
    if (items.length === 0) return out('no monitors: define them with defineMonitor in the config (pass --config to show ones not checked yet)');
    out(
      table(
        ['MONITOR', 'KIND', 'STATE', 'SINCE', 'EVERY', 'TARGET', 'LAST MESSAGE'],
        items.map((m) => [
          m.name,
          dash(m.kind),
          { text: m.state, colour: COLOURS[m.state] },
          dash(m.since),
          m.configured ? `${(m.intervalMs ?? 0) / 1000} s` : 'not in config',
          'target' in m ? dash(m.target) : m.kind === 'push' ? 'push beats' : '-',
          dash(m.lastMessage),
        ]),
      ),
    );
  });
}

export async function listTransitions(name: string, flags: StoreFlags & { json?: boolean; limit?: string; before?: string }): Promise<void> {
  const limit = Number(flags.limit ?? '50');
  const before = flags.before === undefined ? undefined : Number(flags.before);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ConfigError(`--limit takes a whole number from 1 to 1000, got "${flags.limit}"`);
  if (before !== undefined && (!Number.isInteger(before) || before < 1)) throw new ConfigError(`--before takes a transition id, got "${flags.before}"`);
  await withStore(flags, async (store) => {
    if (!(await store.health.getMonitor(name))) {
      process.stderr.write(`no monitor named ${name} has been recorded in this database\n`);
      process.exitCode = 1;
      return;
    }
    const rows = await store.health.listTransitions(name, { limit: limit + 1, ...(before !== undefined ? { before } : {}) });
    const items = rows.slice(0, limit);
    const next = rows.length > limit ? items.at(-1)?.id ?? null : null;
    if (flags.json) {
      return out(JSON.stringify({ items: items.map((t) => ({ ...t, at: new Date(t.at).toISOString() })), next: next === null ? null : String(next) }, null, 2));
    }
    if (items.length === 0) return out(`${name} has no transitions yet`);
    out(
      table(
        ['ID', 'AT', 'FROM', 'TO', 'ANNOUNCED', 'MESSAGE'],
        items.map((t) => [String(t.id), new Date(t.at).toISOString(), t.from, { text: t.to, colour: COLOURS[t.to] }, t.announced ? 'yes' : 'no', dash(t.message)]),
      ),
    );
    if (next !== null) out(paint(`more: confluo monitors transitions ${name} --before ${next}`, 'gray'));
  });
}

export async function setMonitor(name: string, action: 'pause' | 'resume', flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store: Store, where) => {
    const settings = configured(where, flags);
    if (!settings) throw new ConfigError(`monitors ${action} needs the hub config (--config <file>): the monitor is defined there`);
    const runner = new MonitorRunner(store.health, settings.monitors, createAnnouncer(settings.integrations, settings.monitors), pino({ level: 'warn' }, pino.destination(2)));
    await runner.register();
    const row = action === 'pause' ? await runner.pause(name) : await runner.resume(name);
    await recordCliAction(store, `monitor.${action}`, name, row ? 'done' : 'not found');
    if (!row) {
      process.stderr.write(`no monitor named ${name} in the config\n`);
      process.exitCode = 1;
      return;
    }
    out(action === 'pause' ? `${name}: paused (not checked, nothing announced)` : `${name}: resumed; its next check decides its state`);
  });
}
