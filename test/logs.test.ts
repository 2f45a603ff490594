// Log lines an operator can follow: a line about an event names its eventId and
// flowId, a line about a delivery its deliveryId and integration; credentials in
// headers never reach the log; a terminal gets readable lines, a pipe JSON, and
// neither can stop the hub when the log cannot be written.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { defineIntegration } from '../src/delivery/integration.js';
import { restSink } from '../src/delivery/sinks/rest-sink.js';
import { LogDestination } from '../src/cli/log-destination.js';
import { cliLogger } from '../src/cli/logger.js';
import { ledgerFlow } from './support/flows.js';
import { startReceiver, type Receiver } from './support/receiver.js';
import { envelope, eventually, startTestHub, tempDir, type TestHub } from './support/index.js';

describe('log lines about events and deliveries', () => {
  let t: TestHub | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await t?.close();
    await receiver?.close();
    t = receiver = undefined;
  });

  it('name the event (eventId, flowId) and the delivery (deliveryId, integration)', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const capture = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    receiver = await startReceiver({ status: 500 });
    const ledger = defineIntegration({
      name: 'ledger-feed',
      on: { events: ['ledger:entry:posted'] },
      map: ({ key }) => ({ body: { key } }),
      sink: restSink({ url: `${receiver.url}/entries` }),
      retry: { delaysMs: [0, 10] },
    });
    t = await startTestHub({ flow: ledgerFlow, integrations: [ledger], dispatcher: { pollMs: 10 }, logger: pino({ level: 'info' }, capture) });
    const parks = envelope('ledger:entry:posted', { id: 'P', amount: 1, label: 'p1', fail: true });
    const dies = envelope('ledger:entry:posted', { id: 'D', amount: 1, label: 'd1' });
    await t.send(parks);
    await t.send(dies);

    const parked = await eventually(() => lines.find((l) => l.msg === 'rule failed; key parked'), 10_000, 'the parked line');
    expect(parked).toMatchObject({ eventId: parks.id, flowId: parks.flowId });
    const dead = await eventually(() => lines.find((l) => l.msg === 'delivery out of retries: dead letter'), 10_000, 'the dead letter line');
    expect(dead).toMatchObject({ integration: 'ledger-feed', eventId: dies.id });
    expect(dead.deliveryId).toMatch(/^msg_/);
  });
});

describe('the logger of confluo start', () => {
  const dirs: Array<{ remove: () => void }> = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

  const toFile = () => {
    const dir = tempDir('confluo-logs-');
    dirs.push(dir);
    const path = join(dir.path, 'out.log');
    const fd = openSync(path, 'w');
    return { destination: new LogDestination({ fd }), read: () => readFileSync(path, 'utf8'), close: () => closeSync(fd) };
  };

  it('writes JSON when not on a terminal, with authorization headers masked', async () => {
    const file = toFile();
    const log = await cliLogger({ level: 'info', destination: file.destination, pretty: false });
    log.info({ headers: { authorization: 'Bearer ck_live_secret_value', accept: 'json' }, eventId: 'e-1' }, 'a request');
    file.close();
    const line = JSON.parse(file.read()) as Record<string, any>;
    expect(line).toMatchObject({ msg: 'a request', eventId: 'e-1', headers: { authorization: '****', accept: 'json' } });
    expect(file.read()).not.toContain('ck_live_secret_value');
  });

  it('writes readable lines on a terminal, still masked', async () => {
    const file = toFile();
    const log = await cliLogger({ level: 'info', destination: file.destination, pretty: true });
    log.info({ headers: { authorization: 'Bearer ck_live_secret_value' }, eventId: 'e-2' }, 'a readable line');
    file.close();
    const text = file.read();
    expect(text).toContain('a readable line');
    expect(text).toContain('e-2');
    expect(text).not.toContain('ck_live_secret_value');
    expect(() => JSON.parse(text)).toThrow();
  });

  it('drops readable lines it cannot write instead of throwing', async () => {
    const full = openSync('/dev/full', 'w');
    const quiet = openSync('/dev/null', 'w');
    try {
      const destination = new LogDestination({ fd: full, noteFd: quiet });
      const log = await cliLogger({ level: 'info', destination, pretty: true });
      expect(() => log.info('lost')).not.toThrow();
      expect(destination.dropped).toBe(1);
    } finally {
      closeSync(full);
      closeSync(quiet);
    }
  });
});
