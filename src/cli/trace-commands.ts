// `confluo trace` and `confluo lineage`, on the database directly: a flow (or
// an event's flow) as a tree from its source run to every delivery attempt,
// and one field's history with where each value went and, per integration,
// the last value it received and why a newer one did not arrive. `--json`
// prints what the HTTP API answers.
import { ConfigError } from '../errors/index.js';
import { resolveSettings, type ConfluoConfig } from '../hub/config.js';
import { buildFlowTrace, type FlowTrace } from '../observability/flow-trace.js';
import { buildLineage, parseFieldPath, subscribersOf, type Lineage } from '../observability/lineage.js';
import { withStore, type StoreFlags } from './operator.js';
import { paint, table, type Colour } from './table.js';

interface Node {
  text: string;
  children?: Node[];
}

const out = (text: string) => process.stdout.write(`${text}\n`);
const fail = (message: string) => {
  process.stderr.write(`${message}\n`);
  process.exitCode = 1;
};
const show = (value: unknown) => (value === undefined ? 'absent' : JSON.stringify(value));
const STATUS: Record<string, Colour> = { succeeded: 'green', processed: 'green', pending: 'yellow', retry: 'yellow', queued: 'yellow', retrying: 'yellow', paused: 'yellow', failed: 'red', dead: 'red', disabled: 'red', parked: 'red', ignored: 'gray', skipped: 'gray' };
const status = (s: string) => paint(s, STATUS[s]);

function render(node: Node, prefix = '', last = true, root = true): string[] {
  const lines = [root ? node.text : `${prefix}${last ? '└─ ' : '├─ '}${node.text}`];
  const inner = root ? '' : `${prefix}${last ? '   ' : '│  '}`;
  const children = node.children ?? [];
  children.forEach((child, i) => lines.push(...render(child, inner, i === children.length - 1, false)));
  return lines;
}

function traceTree(trace: FlowTrace): Node {
  const runs = trace.sourceRuns.map((r) => ({ text: `source run ${r.runId} of ${r.source} (${r.trigger}) ${status(r.status)}  ${r.startedAt} → ${r.finishedAt ?? 'running'}` }));
  const events = trace.events.map((e) => ({
    text: `event ${e.eventId}  ${e.name} v${e.version}  ${e.entity} ${e.key}  ${status(e.status)}`,
    children: [
      { text: `accepted ${e.acceptedAt}${e.source ? `  from ${e.source.name} run ${e.source.runId}` : ''}` },
      ...(e.processedAt ? [{ text: `${e.status} ${e.processedAt}${e.error ? `  ${paint(`${e.error.code}: ${e.error.message}`, 'red')}` : ''}` }] : []),
      ...e.changes.map((c) => ({
        text: `change v${c.version} by rule ${c.rule}`,
        children: c.diffs.map((d) => ({ text: `${d.part}.${d.field}: ${show(d.oldValue)} → ${show(d.newValue)}` })),
      })),
      ...e.deliveries.map((d) => ({
        text: `delivery ${d.deliveryId} → ${d.integration}  ${status(d.status)}${d.lastError && d.attemptLog.length === 0 ? `  (${d.lastError})` : ''}`,
        children: d.attemptLog.map((a) => ({
          text: `attempt ${a.attempt} ${a.startedAt}  ${status(a.outcome)}  ${a.status === null ? 'no answer' : `HTTP ${a.status}`}  ${a.durationMs} ms${a.error && a.error !== `HTTP ${a.status}` ? `  ${a.error}` : ''}`,
        })),
      })),
    ],
  }));
  const more = trace.truncated ? [{ text: paint(`more events than shown (${trace.events.length}); use --json or the API for scripts`, 'gray') }] : [];
  return { text: `flow ${trace.flowId}  (${trace.events.length} event(s), ${trace.sourceRuns.length} source run(s))`, children: [...runs, ...events, ...more] };
}

export async function traceCommand(id: string, flags: StoreFlags & { json?: boolean }): Promise<void> {
  await withStore(flags, async (store, where) => {
    // A flow id first; else an event id, traced as its whole flow.
    let trace = await buildFlowTrace(store, id);
    if (!trace) {
      const event = await store.records.getEvent(id);
      if (event) trace = await buildFlowTrace(store, event.flowId);
    }
    if (!trace) return fail(`no flow and no event has id "${id}" in ${where.db}`);
    out(flags.json ? JSON.stringify(trace, null, 2) : render(traceTree(trace)).join('\n'));
  });
}

function lineageText(lineage: Lineage): string {
  const lines = [`${lineage.entity} ${lineage.key} ${lineage.field}  now ${show(lineage.current)}`];
  if (lineage.values.length === 0) lines.push(paint('  never set', 'gray'));
  if (lineage.truncated) lines.push(paint(`  (older values not shown; the newest ${lineage.values.length} are)`, 'gray'));
  for (const v of lineage.values) {
    lines.push(`v${v.version}  ${v.at}  ${show(v.value)}  set by event ${v.eventId} (rule ${v.rule}, flow ${v.flowId})`);
    for (const d of v.deliveries) lines.push(`      → ${d.integration}  ${status(d.status)}  ${d.totalAttempts} attempt(s)${d.lastError ? `  ${d.lastError}` : ''}  [${d.deliveryId}]`);
  }
  lines.push('');
  lines.push(
    table(
      ['INTEGRATION', 'STATE', 'LAST RECEIVED', 'NEWER VALUE'],
      lineage.integrations.map((i) => [
        i.integration,
        { text: i.state, colour: STATUS[i.state] },
        i.lastReceived ? `${show(i.lastReceived.value)} (v${i.lastReceived.version})` : 'nothing yet',
        i.missing ? { text: `${show(i.missing.value)} ${i.missing.status}: ${i.missing.reason}`, colour: STATUS[i.missing.status] } : { text: 'up to date', colour: 'green' },
      ]),
    ),
  );
  return lines.join('\n');
}

export async function lineageCommand(entity: string, key: string, path: string, flags: StoreFlags & { json?: boolean }): Promise<void> {
  await withStore(flags, async (store, where) => {
    // With the hub config the field is checked against the entity and the summary names every
    // subscriber; without it, every integration a delivery of the key went to.
    const settings = where.config ? resolveSettings(where.config as ConfluoConfig, process.env, flags) : undefined;
    let target: { part: string; field: string };
    if (settings) {
      const defined = settings.flow.entities.get(entity);
      if (!defined) throw new ConfigError(`the flow has no entity named "${entity}"`);
      const parsed = parseFieldPath(defined, path);
      if ('error' in parsed) throw new ConfigError(parsed.error);
      target = parsed;
    } else {
      const dot = path.indexOf('.');
      if (dot <= 0 || dot === path.length - 1) throw new ConfigError(`the field must be <part>.<field>, got "${path}"`);
      target = { part: path.slice(0, dot), field: path.slice(dot + 1) };
    }
    const subscribers = settings ? subscribersOf(settings.integrations, entity, target.part) : [];
    const lineage = await buildLineage(store, { entity, key, ...target }, subscribers);
    if (!lineage) return fail(`no ${entity} with key "${key}" in ${where.db}`);
    out(flags.json ? JSON.stringify(lineage, null, 2) : lineageText(lineage));
  });
}
