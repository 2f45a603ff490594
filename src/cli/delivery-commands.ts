// Operator commands for the outbound side, on the database directly:
// deliveries (list, show, retry) and integrations (list, pause, resume, replay).
import { SingleBar, Presets } from 'cli-progress';
import { replayRange } from '../api/delivery-api.js';
import { DELIVERY_STATUSES, type DeliveryStatus } from '../store/delivery-types.js';
import { ConfigError } from '../errors/index.js';
import { recordCliAction, withStore, type StoreFlags } from './operator.js';

const out = (text: string) => process.stdout.write(`${text}\n`);
const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

function parseTime(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new ConfigError(`--${name} must be an ISO time such as 2026-11-22T10:00:00Z, got "${text}"`);
  return ms;
}

export async function listDeliveries(flags: StoreFlags & { integration?: string; status?: string; key?: string; limit?: string }): Promise<void> {
  if (flags.status !== undefined && !DELIVERY_STATUSES.includes(flags.status as DeliveryStatus)) {
    throw new ConfigError(`--status must be one of ${DELIVERY_STATUSES.join(', ')}`);
  }
  await withStore(flags, async (store) => {
    const items = await store.deliveries.listDeliveries({
      ...(flags.integration ? { integration: flags.integration } : {}),
      ...(flags.status ? { status: flags.status as DeliveryStatus } : {}),
      ...(flags.key ? { key: flags.key } : {}),
      limit: Number(flags.limit ?? 50),
    });
    if (items.length === 0) return out('no deliveries');
    for (const d of items) {
      out(`${d.deliveryId}  ${d.integration.padEnd(16)} ${d.status.padEnd(9)} ${d.entity}/${d.key}  attempts ${d.totalAttempts}  next ${when(d.nextAttemptAt)}${d.lastError ? `  last error: ${d.lastError}` : ''}`);
    }
  });
}

export async function showDelivery(id: string, flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const d = await store.deliveries.getDelivery(id);
    if (!d) {
      process.stderr.write(`no delivery with id ${id}\n`);
      process.exitCode = 1;
      return;
    }
    out(`${d.deliveryId}  ${d.integration}  ${d.status}  ${d.entity}/${d.key} v${d.version ?? '-'}  event ${d.eventId}`);
    out(`created ${when(d.createdAt)}  next attempt ${when(d.nextAttemptAt)}  completed ${when(d.completedAt)}`);
    if (d.lastError) out(`last error: ${d.lastError}`);
    for (const a of d.log) {
      out(`  #${a.attempt} ${when(a.startedAt)} ${a.trigger.padEnd(9)} ${a.method} ${a.url} → ${a.status ?? '-'} ${a.outcome} (${a.durationMs} ms)${a.error ? ` ${a.error}` : ''}`);
    }
  });
}

export async function retryDelivery(id: string, flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const ok = await store.deliveries.retryDelivery(id, Date.now());
    await recordCliAction(store, 'delivery.retry', id, ok ? 'done' : 'not retryable');
    out(ok ? `${id} will be sent again` : `${id} cannot be sent again (unknown, still pending, or ignored)`);
    if (!ok) process.exitCode = 1;
  });
}

export async function listIntegrations(flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const rows = await store.deliveries.listIntegrations();
    if (rows.length === 0) return out('no integrations have run against this database');
    for (const r of rows) {
      const counts = DELIVERY_STATUSES.map((s) => `${s} ${r.counts[s]}`).join(', ');
      out(`${r.name.padEnd(16)} ${r.state.padEnd(8)} ${counts}${r.reason ? `  (${r.reason})` : ''}`);
    }
  });
}

export async function setIntegration(name: string, action: 'pause' | 'resume', flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const previous = await store.deliveries.setIntegrationState(name, action === 'pause' ? 'paused' : 'active', action === 'pause' ? 'paused by an operator' : null, Date.now());
    await recordCliAction(store, `integration.${action}`, name, previous === undefined ? 'not found' : 'done');
    if (previous === undefined) {
      process.stderr.write(`no integration named ${name}\n`);
      process.exitCode = 1;
      return;
    }
    out(`${name}: ${previous} → ${action === 'pause' ? 'paused (deliveries wait, nothing is lost)' : 'active'}`);
  });
}

export async function replayIntegration(name: string, flags: StoreFlags & { since?: string; until?: string }): Promise<void> {
  if (flags.since === undefined) throw new ConfigError('--since is required: replay deliveries created from that time on');
  const since = parseTime('since', flags.since, 0);
  const until = parseTime('until', flags.until, Date.now());
  await withStore(flags, async (store) => {
    const total = await store.deliveries.countReplayable(name, since, until);
    const range = { since: new Date(since).toISOString(), until: new Date(until).toISOString() };
    if (total === 0) {
      await recordCliAction(store, 'integration.replay', name, 'nothing to replay', range);
      return out(`nothing to replay for ${name} between ${when(since)} and ${when(until)}`);
    }
    const bar = new SingleBar({ format: `replaying ${name} [{bar}] {value}/{total}`, noTTYOutput: true, notTTYSchedule: 1000 }, Presets.shades_classic);
    bar.start(total, 0);
    const done = await replayRange(store.deliveries, name, since, until, (replayed) => bar.update(Math.min(replayed, total)));
    bar.stop();
    await recordCliAction(store, 'integration.replay', name, 'done', { ...range, replayed: done });
    out(`${done} deliveries of ${name} will be sent again`);
  });
}
