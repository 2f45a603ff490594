// Following one customer's data through the hub (issue 16): a source item and
// a second event of the same flow reach four integrations (one succeeds, one
// retries then succeeds, one gives up, one skips); the flow trace shows every
// step from the source run to every attempt, and the field's lineage says
// which value each integration last received and why a newer one did not
// arrive. `confluo trace` and `confluo lineage` print the same from the
// database directly.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { customer } from '../examples/customer-sync/flow.js';
import { defineIntegration, skip } from '../src/delivery/integration.js';
import { restSink } from '../src/delivery/sinks/rest-sink.js';
import { defineSource } from '../src/sources/source.js';
import { customDriver, type SourceDriver } from '../src/sources/source-driver.js';
import type { Json } from '../src/store/types.js';
import { contactUpdated } from '../examples/customer-sync/flow.js';
import { startReceiver, type Receiver } from './support/receiver.js';
import { contact, envelope, eventually, startTestHub, type TestHub } from './support/index.js';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/confluo.mjs');
const FLOW = 'flow-CC-1015';
const OLD = 'ana@old.example';
const NEW = 'ana@new.example';
const THIRD = 'ana@third.example';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A CRM feed that hands out its items once, each event in the flow of its customer. */
function crmFeed(items: Array<{ documentNumber: string; name: string; email: string }>) {
  const driver = customDriver<(typeof items)[number], { done: boolean }>(async (checkpoint) => ({ items: checkpoint?.done ? [] : items, checkpoint: { done: true }, more: false }));
  return defineSource({
    name: 'crm-feed',
    driver: driver as SourceDriver<unknown, Json>,
    schedule: { every: '1h' },
    emits: contactUpdated,
    id: (item) => (item as (typeof items)[number]).documentNumber,
    map: (item) => ({ documentType: 'CC', ...(item as (typeof items)[number]) }),
    flowId: (item) => `flow-CC-${(item as (typeof items)[number]).documentNumber}`,
  });
}

const on = { entity: customer, parts: ['contact'] } as const;
const toReceiver = (name: string, receiver: Receiver, delaysMs: number[], skipAfterFirst = false) =>
  defineIntegration({
    name,
    on,
    map: ({ key, record, version }) => (skipAfterFirst && version > 1 ? skip('only the first address is sent') : { body: { key, email: record.contact?.email ?? null, version } }),
    sink: restSink({ url: `${receiver.url}/${name}/{key}`, method: 'PUT' }),
    retry: { delaysMs },
  });

function confluo(...args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.CONFLUO_DB;
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('flow trace and field lineage', () => {
  it('follow a source item and a second event of its flow to four integrations, and say why the desk still shows the old email', { timeout: 60_000 }, async () => {
    const [mirror, mailer, desk, news] = await Promise.all([startReceiver(), startReceiver(), startReceiver(), startReceiver()]);
    for (const r of [mirror, mailer, desk, news]) cleanups.push(() => r.close());
    // The mailer's third attempt would wait a minute: long enough to be seen retrying.
    const integrations = [
      toReceiver('crm-mirror', mirror, [0, 20]),
      toReceiver('mailer', mailer, [0, 20, 60_000]),
      toReceiver('desk', desk, [0, 20, 20]),
      toReceiver('newsletter', news, [0], true),
    ];
    const t: TestHub = await startTestHub({ integrations, sources: [crmFeed([{ documentNumber: '1015', name: 'Ana', email: OLD }])], pull: false, dispatcher: { pollMs: 10 } });
    cleanups.push(() => t.close());
    const statusOf = async (eventId: string) => ((await t.get(`/api/v1/deliveries?eventId=${encodeURIComponent(eventId)}`)).body.items as Array<{ integration: string; status: string }>).map((d) => `${d.integration}:${d.status}`).sort();

    // 1. The source emits the first event: every integration gets the old email, the mailer at its second attempt.
    mailer.script.push({ status: 503 });
    const run = (await t.post('/api/v1/sources/crm-feed/run')).body;
    expect(run).toMatchObject({ status: 'succeeded', accepted: 1 });
    const first = 'crm-feed:1015';
    await eventually(async () => (await statusOf(first)).join() === 'crm-mirror:succeeded,desk:succeeded,mailer:succeeded,newsletter:succeeded' || undefined, 10_000, 'the first event delivered');

    // 2. A second event of the same flow, sent to /events: the desk answers 500 until it gives up, the newsletter skips it.
    mailer.script.push({ status: 503 });
    desk.fallback = { status: 500 };
    const second = envelope('crm:contact:updated', contact('1015', 'Ana', NEW), { flowId: FLOW, metadata: { wait: true } });
    expect((await t.send(second)).body.payload).toMatchObject({ status: 'processed' });
    await eventually(async () => (await statusOf(second.id)).join() === 'crm-mirror:succeeded,desk:dead,mailer:succeeded,newsletter:ignored' || undefined, 10_000, 'the second event settled');

    // The flow trace, field by field.
    const traced = await t.get(`/api/v1/flows/${FLOW}`);
    expect(traced.status).toBe(200);
    const trace = traced.body;
    expect(trace).toMatchObject({ flowId: FLOW, truncated: false });
    expect(trace.sourceRuns).toEqual([
      { source: 'crm-feed', runId: run.runId, trigger: 'manual', status: 'succeeded', startedAt: run.startedAt, finishedAt: run.finishedAt, pages: 1, items: 1, accepted: 1, duplicates: 0, rejected: 0, skipped: 0, error: null },
    ]);
    expect(trace.events.map((e: any) => [e.eventId, e.name, e.entity, e.key, e.status, e.flowId, e.source])).toEqual([
      [first, 'crm:contact:updated', 'customer', 'CC-1015', 'processed', FLOW, { name: 'crm-feed', runId: run.runId, itemId: '1015' }],
      [second.id, 'crm:contact:updated', 'customer', 'CC-1015', 'processed', FLOW, null],
    ]);
    const [e1, e2] = trace.events;
    expect(e1.result).toEqual({ entity: 'customer', key: 'CC-1015', version: 1, changedParts: ['contact'] });
    expect(e1.changes).toHaveLength(1);
    expect(e1.changes[0]).toMatchObject({ version: 1, changedParts: ['contact'] });
    expect(e1.changes[0].diffs).toEqual([
      { part: 'contact', field: 'name', oldValue: null, newValue: 'Ana' },
      { part: 'contact', field: 'email', oldValue: null, newValue: OLD },
    ]);
    expect(e2.changes.map((c: any) => [c.version, c.diffs])).toEqual([[2, [{ part: 'contact', field: 'email', oldValue: OLD, newValue: NEW }]]]);
    const attempts = (d: any) => d.attemptLog.map((a: any) => `${a.attempt}:${a.outcome}:${a.status}`);
    const byIntegration = (e: any) => Object.fromEntries(e.deliveries.map((d: any) => [d.integration, d]));
    const d1 = byIntegration(e1);
    const d2 = byIntegration(e2);
    expect(Object.keys(d1).sort()).toEqual(['crm-mirror', 'desk', 'mailer', 'newsletter']);
    expect(attempts(d1['crm-mirror'])).toEqual(['1:succeeded:200']);
    expect(attempts(d1.mailer)).toEqual(['1:retry:503', '2:succeeded:200']);
    expect(attempts(d1.desk)).toEqual(['1:succeeded:200']);
    expect(attempts(d1.newsletter)).toEqual(['1:succeeded:200']);
    expect(attempts(d2['crm-mirror'])).toEqual(['1:succeeded:200']);
    expect(attempts(d2.mailer)).toEqual(['1:retry:503', '2:succeeded:200']);
    expect(attempts(d2.desk)).toEqual(['1:retry:500', '2:retry:500', '3:dead:500']);
    expect(d2.desk).toMatchObject({ status: 'dead', eventId: second.id, version: 2, totalAttempts: 3, lastStatus: 500, completedAt: expect.stringMatching(ISO) });
    expect(d2.newsletter).toMatchObject({ status: 'ignored', lastError: 'only the first address is sent', attemptLog: [] });
    // Attempts carry masked URLs and headers as the delivery API shows them.
    expect(d2.desk.attemptLog[0]).toMatchObject({ method: 'PUT', url: `${desk.url}/desk/CC-1015`, startedAt: expect.stringMatching(ISO) });

    // One timeline: every step once, in time order, the source run first.
    const timeline = trace.timeline as Array<{ at: string; kind: string; [k: string]: unknown }>;
    const count = (kind: string) => timeline.filter((s) => s.kind === kind).length;
    expect([count('source-run'), count('accepted'), count('processed'), count('delivery-created'), count('attempt')]).toEqual([1, 2, 2, 8, 11]);
    expect(timeline.every((s) => ISO.test(s.at))).toBe(true);
    expect(timeline.map((s) => s.at)).toEqual(timeline.map((s) => s.at).sort());
    expect(timeline[0]).toMatchObject({ kind: 'source-run', source: 'crm-feed', runId: run.runId, status: 'succeeded' });
    expect(timeline.find((s) => s.kind === 'processed' && s.eventId === second.id)).toMatchObject({ recordVersion: 2, changedParts: ['contact'] });
    expect(timeline.find((s) => s.kind === 'delivery-created' && s.integration === 'newsletter' && s.eventId === second.id)).toMatchObject({ status: 'ignored', reason: 'only the first address is sent' });
    const position = (match: (s: (typeof timeline)[number]) => boolean) => timeline.findIndex(match);
    const lastAttemptOfFirst = Math.max(...e1.deliveries.flatMap((d: any) => d.attemptLog.map((a: any) => position((s) => s.kind === 'attempt' && s.deliveryId === d.deliveryId && s.attempt === a.attempt))));
    expect(position((s) => s.kind === 'accepted' && s.eventId === first)).toBeLessThan(position((s) => s.kind === 'processed' && s.eventId === first));
    expect(lastAttemptOfFirst).toBeLessThan(position((s) => s.kind === 'accepted' && s.eventId === second.id));
    expect(timeline.filter((s) => s.kind === 'attempt' && s.deliveryId === d2.desk.deliveryId).map((s) => s.outcome)).toEqual(['retry', 'retry', 'dead']);

    // 3. A third address while the mirror is paused and the mailer keeps failing (not the same flow).
    expect((await t.post('/api/v1/integrations/crm-mirror/pause')).status).toBe(200);
    mailer.fallback = { status: 503 };
    const third = envelope('crm:contact:updated', contact('1015', 'Ana', THIRD), { metadata: { wait: true } });
    expect((await t.send(third)).body.payload).toMatchObject({ status: 'processed' });
    await eventually(async () => (await statusOf(third.id)).join() === 'crm-mirror:pending,desk:dead,mailer:pending,newsletter:ignored' || undefined, 10_000, 'the third event settled');
    await eventually(async () => mailer.received.filter((r) => r.body?.email === THIRD).length === 2 || undefined, 10_000, 'the mailer tried twice');
    await eventually(async () => ((await t.get(`/api/v1/deliveries?eventId=${third.id}&integration=mailer`)).body.items[0]?.attempts === 2) || undefined, 10_000, 'the second attempt settled');

    // The lineage of contact.email, field by field.
    const answered = await t.get('/api/v1/entities/customer/CC-1015/lineage?field=contact.email');
    expect(answered.status).toBe(200);
    const lineage = answered.body;
    expect(lineage).toMatchObject({ entity: 'customer', key: 'CC-1015', field: 'contact.email', current: THIRD, truncated: false });
    expect(lineage.values.map((v: any) => [v.value, v.previousValue, v.version, v.eventId])).toEqual([
      [OLD, null, 1, first],
      [NEW, OLD, 2, second.id],
      [THIRD, NEW, 3, third.id],
    ]);
    expect(lineage.values[0]).toMatchObject({ flowId: FLOW, rule: e1.changes[0].rule, at: e1.changes[0].at });
    expect(lineage.values[2].flowId).toBe(third.flowId);
    const sent = (v: any) => v.deliveries.map((d: any) => `${d.integration}:${d.status}:${d.totalAttempts}`).sort();
    expect(sent(lineage.values[0])).toEqual(['crm-mirror:succeeded:1', 'desk:succeeded:1', 'mailer:succeeded:2', 'newsletter:succeeded:1']);
    expect(sent(lineage.values[1])).toEqual(['crm-mirror:succeeded:1', 'desk:dead:3', 'mailer:succeeded:2', 'newsletter:ignored:0']);
    expect(sent(lineage.values[2])).toEqual(['crm-mirror:pending:0', 'desk:dead:3', 'mailer:pending:2', 'newsletter:ignored:0']);
    expect(lineage.values[1].deliveries.find((d: any) => d.integration === 'desk').attemptLog.map((a: any) => a.status)).toEqual([500, 500, 500]);

    // The question in the title, per integration, in one call.
    const summary = Object.fromEntries(lineage.integrations.map((i: any) => [i.integration, i]));
    expect(lineage.integrations.map((i: any) => i.integration)).toEqual(['crm-mirror', 'desk', 'mailer', 'newsletter']);
    expect(summary.desk).toMatchObject({
      subscribed: true,
      state: 'active',
      upToDate: false,
      lastReceived: { value: OLD, version: 1, deliveryId: d1.desk.deliveryId, at: d1.desk.completedAt },
      missing: { value: THIRD, version: 3, status: 'dead', attempts: 3, nextAttemptAt: null },
    });
    expect(summary.desk.missing.reason).toMatch(/^gave up after 3 attempt\(s\): /);
    expect(summary['crm-mirror']).toMatchObject({
      state: 'paused',
      stateReason: 'paused by an operator',
      lastReceived: { value: NEW, version: 2, deliveryId: d2['crm-mirror'].deliveryId },
      missing: { value: THIRD, status: 'paused', attempts: 0 },
    });
    expect(summary['crm-mirror'].missing.reason).toBe('crm-mirror is paused (paused by an operator); the delivery waits until it is resumed');
    expect(summary.mailer).toMatchObject({ lastReceived: { value: NEW, version: 2 }, missing: { value: THIRD, status: 'retrying', attempts: 2, nextAttemptAt: expect.stringMatching(ISO) } });
    expect(summary.mailer.missing.reason).toMatch(/^2 attempt\(s\) failed so far \(last: .*\); next attempt at \d{4}-/);
    expect(summary.newsletter).toMatchObject({ lastReceived: { value: OLD, version: 1 }, missing: { value: THIRD, status: 'ignored', reason: 'the mapping skipped it: only the first address is sent', attempts: 0 } });

    // Resumed, the mirror catches up: up to date, nothing missing.
    expect((await t.post('/api/v1/integrations/crm-mirror/resume')).status).toBe(200);
    await eventually(async () => mirror.received.some((r) => r.body?.email === THIRD) || undefined, 10_000, 'the mirror caught up');
    const caughtUp = await eventually(async () => {
      const body = (await t.get('/api/v1/entities/customer/CC-1015/lineage?field=contact.email')).body;
      return body.integrations.find((i: any) => i.integration === 'crm-mirror').upToDate ? body : undefined;
    });
    expect(caughtUp.integrations.find((i: any) => i.integration === 'crm-mirror')).toMatchObject({ state: 'active', lastReceived: { value: THIRD, version: 3 }, missing: null });

    // A field never changed since the record began has one value; unknown things answer 404 and 400.
    expect((await t.get('/api/v1/entities/customer/CC-1015/lineage?field=contact.name')).body.values.map((v: any) => v.value)).toEqual(['Ana']);
    expect((await t.get('/api/v1/flows/no-such-flow')).body).toEqual({ error: { code: 'UNKNOWN_FLOW', message: 'no event has flow id "no-such-flow"' } });
    expect((await t.get('/api/v1/flows/no-such-flow')).status).toBe(404);
    const lineageOf = (path: string) => t.get(`/api/v1/entities/${path}`);
    expect(await lineageOf('vendor/X/lineage?field=contact.email')).toMatchObject({ status: 404, body: { error: { code: 'ENTITY_NOT_FOUND' } } });
    expect(await lineageOf('customer/CC-9999/lineage?field=contact.email')).toMatchObject({ status: 404, body: { error: { code: 'RECORD_NOT_FOUND', message: 'no customer with key "CC-9999"' } } });
    expect(await lineageOf('customer/CC-1015/lineage')).toMatchObject({ status: 400, body: { error: { code: 'INVALID_FIELD' } } });
    expect(await lineageOf('customer/CC-1015/lineage?field=email')).toMatchObject({ status: 400, body: { error: { code: 'INVALID_FIELD' } } });
    const noPart = await lineageOf('customer/CC-1015/lineage?field=shipping.city');
    expect(noPart).toMatchObject({ status: 400, body: { error: { code: 'INVALID_FIELD' } } });
    expect(noPart.body.error.message).toBe('entity "customer" has no part "shipping" (its parts: contact, billing, preferences)');
    expect((await lineageOf('customer/CC-1015/lineage?field=contact.fax')).body.error.message).toBe('part "contact" of entity "customer" has no field "fax" (its fields: name, email, phone)');

    // The CLI, on the database the hub uses: the same trace by flow id or by an event id of it.
    const db = ['--db', `sqlite:${t.dbPath}`];
    const byFlow = confluo('trace', FLOW, '--json', ...db);
    expect(byFlow.code).toBe(0);
    expect(JSON.parse(byFlow.stdout)).toEqual((await t.get(`/api/v1/flows/${FLOW}`)).body);
    expect(JSON.parse(confluo('trace', second.id, '--json', ...db).stdout).flowId).toBe(FLOW);
    const tree = confluo('trace', first, ...db);
    expect(tree.code).toBe(0);
    const lines = tree.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`flow ${FLOW}  (2 event(s), 1 source run(s))`);
    expect(lines[1]).toMatch(new RegExp(`^├─ source run ${run.runId} of crm-feed \\(manual\\) succeeded  ${run.startedAt} → `));
    expect(lines).toContain(`├─ event ${first}  crm:contact:updated v1  customer CC-1015  processed`);
    expect(lines).toContain(`│  ├─ change v1 by rule ${e1.changes[0].rule}`);
    expect(lines).toContain(`│  │  └─ contact.email: null → "${OLD}"`);
    expect(lines).toContain(`   │  └─ contact.email: "${OLD}" → "${NEW}"`);
    expect(lines.find((l) => l.includes(`delivery ${d2.desk.deliveryId} → desk  dead`))).toBeDefined();
    expect(lines.filter((l) => /^ {3}│ {2}[├└]─ attempt \d .*Z {2}(retry|dead) {2}HTTP 500 {2}\d+ ms$/.test(l))).toHaveLength(3);
    expect(lines.find((l) => l.includes(`delivery ${d2.newsletter.deliveryId} → newsletter  ignored  (only the first address is sent)`))).toBeDefined();
    const unknown = confluo('trace', 'nothing-like-this', ...db);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`no flow and no event has id "nothing-like-this" in sqlite:${t.dbPath}\n`);

    // Without the config the CLI cannot know subscribers; everything else is the API's answer.
    const cliLineage = confluo('lineage', 'customer', 'CC-1015', 'contact.email', '--json', ...db);
    expect(cliLineage.code).toBe(0);
    const api = (await t.get('/api/v1/entities/customer/CC-1015/lineage?field=contact.email')).body;
    expect(JSON.parse(cliLineage.stdout)).toEqual({ ...api, integrations: api.integrations.map((i: any) => ({ ...i, subscribed: false })) });
    const text = confluo('lineage', 'customer', 'CC-1015', 'contact.email', ...db);
    expect(text.code).toBe(0);
    const textLines = text.stdout.split('\n');
    expect(textLines[0]).toBe(`customer CC-1015 contact.email  now "${THIRD}"`);
    expect(textLines.find((l) => l.startsWith('v2 '))).toContain(`"${NEW}"  set by event ${second.id}`);
    expect(textLines.find((l) => l.startsWith('desk '))).toMatch(new RegExp(`^desk +active +"${OLD}" \\(v1\\) +"${THIRD}" dead: gave up after 3 attempt\\(s\\)`));
    expect(textLines.find((l) => l.startsWith('crm-mirror '))).toMatch(/up to date$/);
    expect(textLines.find((l) => l.startsWith('newsletter '))).toContain('ignored: the mapping skipped it: only the first address is sent');
    const noRecord = confluo('lineage', 'customer', 'CC-9999', 'contact.email', ...db);
    expect([noRecord.code, noRecord.stderr]).toEqual([1, `no customer with key "CC-9999" in sqlite:${t.dbPath}\n`]);
    const badField = confluo('lineage', 'customer', 'CC-1015', 'email', ...db);
    expect([badField.code, badField.stderr]).toEqual([1, 'confluo: the field must be <part>.<field>, got "email"\n']);
  });
});
