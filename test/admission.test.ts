// Admission control: with `ingest.maxBacklog`, events past the limit of events
// waiting to be applied are refused (`:error` OVERLOADED, retryAfterMs) and
// nothing is stored for them; once the backlog drains, events go in again.
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { flow as customerFlow } from '../examples/customer-sync/flow.js';
import { resolveSettings } from '../src/hub/config.js';
import { API_KEY, contact, envelope, eventually, startTestHub, type TestHub } from './support/index.js';

const hubs: TestHub[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close();
});

const EVENT = 'crm:contact:updated';
const event = (n: number) => envelope(EVENT, contact(String(3000 + n), `Name${n}`));

function logLines(): { logger: pino.Logger; messages: (level: number) => string[] } {
  const lines: Array<{ level: number; msg: string; component?: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), messages: (level) => lines.filter((l) => l.level === level && l.component === 'admission').map((l) => l.msg) };
}

async function bulk(hub: TestHub, body: unknown[]): Promise<Array<Record<string, any>>> {
  const response = await request(`${hub.url}/events/bulk`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body: JSON.stringify(body) });
  return (await response.body.json()) as Array<Record<string, any>>;
}

describe('admission control', () => {
  it('refuses events past maxBacklog, storing nothing, and takes them again once the backlog drains', async () => {
    const log = logLines();
    const hub = await startTestHub({ process: false, ingest: { maxBacklog: 5 }, logger: log.logger });
    hubs.push(hub);

    for (let n = 0; n < 3; n += 1) expect((await hub.send(event(n))).body.name).toBe(`${EVENT}:response`);
    // A bulk request gets the room that is left, first come first served; the excess is refused.
    const batch = [event(3), event(4), event(5), event(6)];
    const answers = await bulk(hub, batch);
    expect(answers.map((a) => a.name)).toEqual([`${EVENT}:response`, `${EVENT}:response`, `${EVENT}:error`, `${EVENT}:error`]);
    expect(answers[2]!.payload).toEqual({ code: 'OVERLOADED', parameters: { retryAfterMs: 1000 } });

    const late = event(7);
    const refused = await hub.send(late);
    expect(refused.body.name).toBe(`${EVENT}:error`);
    expect(refused.body.payload).toEqual({ code: 'OVERLOADED', parameters: { retryAfterMs: 1000 } });

    for (const stored of [batch[0]!, batch[1]!]) expect(await hub.hub.store.records.getEvent(stored.id)).toBeDefined();
    for (const dropped of [batch[2]!, batch[3]!, late]) expect(await hub.hub.store.records.getEvent(dropped.id)).toBeUndefined();
    expect(await hub.hub.store.inbox.queued()).toBe(5);
    const health = await hub.get('/healthz');
    expect(health.status).toBe(200);
    expect(health.body.admission).toEqual({ maxBacklog: 5, backlog: 5, engaged: true, refused: 3 });
    expect(log.messages(40)).toEqual(['the inbox backlog reached 5: refusing new events (OVERLOADED) until it drains']);

    hub.hub.processor.start();
    const retried = await eventually(async () => {
      const answer = await hub.send(late);
      return answer.body.name === `${EVENT}:response` && answer;
    }, 10_000, 'the refused event to be taken once the backlog drained');
    expect(retried.body.payload).toMatchObject({ status: 'accepted', eventId: late.id });
    await eventually(async () => (await hub.hub.store.records.getEvent(late.id))?.status === 'processed', 10_000, 'the retried event to be applied');

    expect((await hub.get('/healthz')).body.admission).toMatchObject({ maxBacklog: 5, engaged: false, refused: 3 });
    expect(log.messages(40)).toHaveLength(1);
    expect(log.messages(30)).toEqual(['the inbox backlog drained: taking new events again']);
  });

  it('counts the backlog at start, so a hub restarted on a full inbox refuses at once', async () => {
    const first = await startTestHub({ process: false });
    for (let n = 10; n < 13; n += 1) await first.send(event(n));
    const dbPath = first.dbPath;
    await first.hub.close();

    const again = await startTestHub({ dbPath, process: false, ingest: { maxBacklog: 3 } });
    hubs.push(again);
    expect((await again.send(event(13))).body.payload).toEqual({ code: 'OVERLOADED', parameters: { retryAfterMs: 1000 } });
  });

  it('takes the limit from CONFLUO_MAX_BACKLOG over the config file', () => {
    const config = { flow: customerFlow, ingest: { maxBacklog: 10, waitTimeoutMs: 500 } };
    expect(resolveSettings(config, {}).ingest).toEqual({ maxBacklog: 10, waitTimeoutMs: 500 });
    expect(resolveSettings(config, { CONFLUO_MAX_BACKLOG: '250' }).ingest).toEqual({ maxBacklog: 250, waitTimeoutMs: 500 });
    expect(() => resolveSettings(config, { CONFLUO_MAX_BACKLOG: 'many' })).toThrow(/CONFLUO_MAX_BACKLOG must be a number of events/);
    expect(() => resolveSettings(config, { CONFLUO_MAX_BACKLOG: '0' })).toThrow(/CONFLUO_MAX_BACKLOG must be a number of events from 1, got "0"/);
  });

  it('has no limit and no admission section in /healthz without maxBacklog', async () => {
    const hub = await startTestHub({ process: false });
    hubs.push(hub);
    for (let n = 20; n < 30; n += 1) expect((await hub.send(event(n))).body.name).toBe(`${EVENT}:response`);
    expect((await hub.get('/healthz')).body.admission).toBeUndefined();
  });
});
