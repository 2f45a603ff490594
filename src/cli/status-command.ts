// `confluo status`: the hub's health from the database, as `GET
// /api/v1/health` shows it: every process with its loops, every monitor. Exit
// code 0 when all is up, 2 when something is degraded (late, slow, flapping,
// a loop in trouble), 1 when anything is down or in error.
import { healthView, type HealthView, type OverallStatus } from '../api/health-view.js';
import { resolveSettings, type ConfluoConfig } from '../hub/config.js';
import type { Monitor } from '../health/monitor.js';
import type { MonitorState } from '../store/health-types.js';
import { paint, table, type Colour } from './table.js';
import { withStore, type StoreFlags } from './operator.js';

const out = (text: string) => process.stdout.write(`${text}\n`);

export const EXIT_CODES: Record<OverallStatus, number> = { up: 0, degraded: 2, down: 1 };

const STATE_COLOURS: Partial<Record<MonitorState | 'stopped' | 'ok' | 'error', Colour>> = {
  up: 'green',
  ok: 'green',
  late: 'yellow',
  degraded: 'yellow',
  flapping: 'yellow',
  error: 'red',
  down: 'red',
  paused: 'gray',
  stopped: 'gray',
  new: 'gray',
};

const cell = (state: string) => ({ text: state, colour: STATE_COLOURS[state as keyof typeof STATE_COLOURS] });
const dash = (value: string | null | undefined) => value ?? '-';

function print(view: HealthView): void {
  out(`${paint(view.status.toUpperCase(), STATE_COLOURS[view.status])} at ${view.at}`);
  out('');
  if (view.processes.length === 0) out('no processes (none has started on this database in the last hour)');
  else {
    out(
      table(
        ['PROCESS', 'STATE', 'ROLES', 'LAST BEAT', 'LOOPS'],
        view.processes.map((p) => [
          p.id,
          cell(p.state),
          p.roles.join(','),
          dash(p.lastBeatAt),
          p.state === 'up' ? p.loops.map((l) => `${l.name} ${l.status}${l.message ? ` (${l.message})` : ''}`).join(', ') || '-' : `${p.state} ${dash(p.endedAt)}`,
        ]),
      ),
    );
  }
  out('');
  if (view.monitors.length === 0) out('no monitors (define them with defineMonitor in the config)');
  else {
    out(
      table(
        ['MONITOR', 'KIND', 'STATE', 'SINCE', 'LAST BEAT', 'MESSAGE'],
        view.monitors.map((m) => [m.name, m.kind ?? '-', cell(m.state), dash(m.since), dash(m.lastBeatAt), dash(m.lastMessage)]),
      ),
    );
  }
}

export async function showStatus(flags: StoreFlags & { json?: boolean }): Promise<void> {
  await withStore(flags, async (store, where) => {
    // The config, when there is one, names the monitors that have not been checked yet.
    const monitors: Monitor[] = where.config ? resolveSettings(where.config as ConfluoConfig, process.env, flags).monitors : [];
    const view = await healthView(store.health, monitors, { configKnown: where.config !== undefined });
    if (flags.json) out(JSON.stringify(view, null, 2));
    else print(view);
    process.exitCode = EXIT_CODES[view.status];
  });
}
