// The example's monitors: read from the environment (a bad entry is named),
// each transition told to Slack as Block Kit, and end to end: a real local
// service that stops answering is `down` in Slack, and `up` again when it is back.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, type MonitorInput } from 'confluo';
import { createTestHub, type TestHub } from 'confluo/testing';
import { eventually, startTestHub, type TestHub as SupportHub } from '../../test/support/index.js';
import { startReceiver, type Receiver } from '../../test/support/receiver.js';
import { flow } from './flow.js';
import { alertsFromEnv, monitorsFromEnv, transitionMessage } from './monitors.js';

describe('monitorsFromEnv', () => {
  it('makes an http monitor per WATCH_SERVICES entry and a push monitor per HEARTBEAT_MONITORS entry', () => {
    const monitors = monitorsFromEnv({
      WATCH_SERVICES: 'crm=http://127.0.0.1:9100/health, billing=https://billing.example.com/healthz?deep=1',
      WATCH_INTERVAL: '30s',
      HEARTBEAT_MONITORS: 'nightly-export:1h,ledger-sync:15m',
    });
    expect(monitors.map((m) => [m.kind, m.name, m.intervalMs, m.kind === 'http' ? m.url : m.graceMs])).toEqual([
      ['http', 'crm', 30_000, 'http://127.0.0.1:9100/health'],
      ['http', 'billing', 30_000, 'https://billing.example.com/healthz?deep=1'],
      ['push', 'nightly-export', 3_600_000, 3_600_000],
      ['push', 'ledger-sync', 900_000, 900_000],
    ]);
    expect(monitors.every((m) => m.remindEveryMs === undefined)).toBe(true);
  });

  it('checks every 10 s by default, watches nothing when unset, and reminds when ALERT_REMIND_EVERY says', () => {
    expect(monitorsFromEnv({})).toEqual([]);
    expect(monitorsFromEnv({ WATCH_SERVICES: '', HEARTBEAT_MONITORS: ' ' })).toEqual([]);
    const [crm] = monitorsFromEnv({ WATCH_SERVICES: 'crm=http://127.0.0.1:9100/health', WATCH_INTERVAL: '' });
    expect(crm).toMatchObject({ intervalMs: 10_000, timeoutMs: 5000 });
    const reminding = monitorsFromEnv({ WATCH_SERVICES: 'crm=http://127.0.0.1:9100/health', HEARTBEAT_MONITORS: 'nightly-export:1h', ALERT_REMIND_EVERY: '30m' });
    expect(reminding.map((m) => m.remindEveryMs)).toEqual([1_800_000, 1_800_000]);
  });

  it.each([
    [{ WATCH_SERVICES: 'crm' }, 'WATCH_SERVICES entry "crm": write it as name=url'],
    [{ WATCH_SERVICES: 'crm=http://127.0.0.1:9100/health,=http://x' }, 'WATCH_SERVICES entry "=http://x": write it as name=url'],
    [{ WATCH_SERVICES: 'crm=' }, 'WATCH_SERVICES entry "crm=": write it as name=url'],
    [{ WATCH_SERVICES: 'CRM=http://127.0.0.1:9100/health' }, 'WATCH_SERVICES entry "CRM=http://127.0.0.1:9100/health": monitor name "CRM" must match'],
    [{ WATCH_SERVICES: 'crm=ftp://127.0.0.1/health' }, 'WATCH_SERVICES entry "crm=ftp://127.0.0.1/health": monitor "crm": url must be an http(s) URL'],
    [{ WATCH_SERVICES: 'crm=not a url' }, 'WATCH_SERVICES entry "crm=not a url": monitor "crm": url must be an http(s) URL'],
    [{ HEARTBEAT_MONITORS: 'nightly-export' }, 'HEARTBEAT_MONITORS entry "nightly-export": write it as name:interval'],
    [{ HEARTBEAT_MONITORS: 'nightly-export:daily' }, 'HEARTBEAT_MONITORS entry "nightly-export:daily": the interval: "daily" is not a duration'],
    [{ HEARTBEAT_MONITORS: 'nightly-export:500ms' }, 'HEARTBEAT_MONITORS entry "nightly-export:500ms": the interval must be at least 1s'],
    [{ WATCH_SERVICES: 'crm=http://127.0.0.1:9100/health', WATCH_INTERVAL: 'often' }, 'WATCH_INTERVAL: "often" is not a duration'],
    [{ WATCH_SERVICES: 'crm=http://127.0.0.1:9100/health', WATCH_INTERVAL: '500ms' }, 'WATCH_INTERVAL must be at least 1s, got "500ms"'],
    [{ ALERT_REMIND_EVERY: 'hourly' }, 'ALERT_REMIND_EVERY: "hourly" is not a duration'],
    [{ WATCH_SERVICES: 'crm=http://127.0.0.1:9100/health', HEARTBEAT_MONITORS: 'crm:1h' }, 'monitor "crm" is named twice'],
  ])('refuses %j, naming what is wrong', (env, message) => {
    expect(() => monitorsFromEnv(env)).toThrow(ConfigError);
    expect(() => monitorsFromEnv(env)).toThrow(message);
  });
});

const transition = (overrides: Partial<MonitorInput> = {}): MonitorInput => ({
  kind: 'monitor',
  monitor: 'crm',
  monitorKind: 'http',
  from: 'up',
  to: 'down',
  reminder: false,
  transitionId: 7,
  at: new Date('2025-03-04T10:00:05.000Z'),
  since: new Date('2025-03-04T10:00:05.000Z'),
  message: 'connection refused',
  details: { durationMs: 2 },
  ...overrides,
});

describe('the service-alerts message', () => {
  it('names the monitor, the change, since when and what the check said', () => {
    expect(transitionMessage(transition())).toEqual({
      text: 'crm: up → down: connection refused',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'crm: up → down' } },
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: '*Monitor*\ncrm (http)' },
            { type: 'mrkdwn', text: '*Change*\nup → down' },
            { type: 'mrkdwn', text: '*Since*\n2025-03-04T10:00:05.000Z' },
            { type: 'mrkdwn', text: '*Message*\nconnection refused' },
          ],
        },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'Sent by Confluo, integration service-alerts.' }] },
      ],
    });
  });

  it('says so when it is a reminder', () => {
    const message = transitionMessage(transition({ reminder: true, at: new Date('2025-03-04T11:00:05.000Z') }));
    expect(message.text).toBe('Reminder: crm is still down: connection refused');
    expect(message.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Reminder: crm is still down' } });
    expect(JSON.stringify(message.blocks[1])).toContain('*State*\\ndown (reminder)');
    expect(JSON.stringify(message.blocks[1])).toContain('*Since*\\n2025-03-04T10:00:05.000Z');
  });

  it("escapes what a service says, shortens it, and shows '-' when it said nothing", () => {
    const loud = transitionMessage(transition({ monitorKind: 'push', from: 'late', to: 'error', message: `<!channel> disk full & ${'x'.repeat(500)}` }));
    const said = JSON.stringify(loud);
    expect(said).not.toContain('<!channel>');
    expect(said).toContain('&lt;!channel&gt; disk full &amp; x');
    expect(said).toContain('x…');
    const quiet = transitionMessage(transition({ message: null }));
    expect(quiet.text).toBe('crm: up → down');
    expect(JSON.stringify(quiet.blocks[1])).toContain('*Message*\\n-');
  });

  it('is what the integration maps every transition to, and the integration listens to every monitor', () => {
    const [alerts] = alertsFromEnv({ ALERT_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0001/B0001/abcdefghijklmnopqrstuvwx' });
    expect(alerts).toMatchObject({ name: 'service-alerts', on: { monitors: 'all' }, disabled: false });
    expect(alerts!.map(transition())).toEqual({ body: transitionMessage(transition()) });
  });
});

describe('service-alerts, end to end', () => {
  let hub: TestHub | undefined;
  let supportHub: SupportHub | undefined;
  let service: Server | undefined;
  const receivers: Receiver[] = [];
  afterEach(async () => {
    await hub?.close();
    await supportHub?.close();
    hub = supportHub = undefined;
    if (service?.listening) await stop(service);
    for (const r of receivers.splice(0)) await r.close();
  });

  /** A service's health endpoint on 127.0.0.1 (a given port: the same one again after a restart). */
  const serve = (port = 0) =>
    new Promise<Server>((resolve) => {
      const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
      server.listen(port, '127.0.0.1', () => resolve(server));
    });
  const stop = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });

  it('tells Slack once when a watched service stops answering, and once when it is back', async () => {
    const slack = await startReceiver();
    receivers.push(slack);
    service = await serve();
    const port = (service.address() as AddressInfo).port;
    hub = await createTestHub({
      flow,
      monitors: monitorsFromEnv({ WATCH_SERVICES: `crm=http://127.0.0.1:${port}/health`, WATCH_INTERVAL: '1s' }),
      integrations: alertsFromEnv({ ALERT_SLACK_WEBHOOK_URL: `${slack.url}/services/T0001/B0001/abcdefghijklmnopqrstuvwx` }),
    });
    const state = async () => (await hub!.hub.store.health.getMonitor('crm'))?.state;
    await eventually(async () => (await state()) === 'up', 5000, 'crm up');
    expect(slack.received).toEqual([]); // new → up is not announced

    await stop(service);
    await eventually(() => slack.received.length === 1, 5000, 'the down message');
    const down = slack.received[0]!.body;
    expect(down.text).toBe('crm: up → down: connection refused');
    expect(down.blocks[0].text.text).toBe('crm: up → down');

    service = await serve(port);
    await eventually(() => slack.received.length === 2, 5000, 'the up message');
    expect(slack.received[1]!.body.text).toMatch(/^crm: down → up: HTTP 200 in \d+ ms$/);
    expect(await state()).toBe('up');
    const transitions = await hub.hub.store.health.listTransitions('crm', { limit: 10 });
    expect(transitions.map((t) => [t.from, t.to, t.announced])).toEqual([
      ['down', 'up', true],
      ['up', 'down', true],
      ['new', 'up', false],
    ]);
    expect(slack.received).toHaveLength(2);
  });

  it('is off, with a log line, while ALERT_SLACK_WEBHOOK_URL is unset or empty', async () => {
    for (const env of [{}, { ALERT_SLACK_WEBHOOK_URL: '' }]) expect(alertsFromEnv(env)[0]!.disabled).toBe('ALERT_SLACK_WEBHOOK_URL is unset');
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
    supportHub = await startTestHub({ integrations: alertsFromEnv({}), monitors: monitorsFromEnv({ HEARTBEAT_MONITORS: 'nightly-export:1h' }), logger });
    expect(lines.join('')).toContain('integration service-alerts is off: ALERT_SLACK_WEBHOOK_URL is unset');
  });
});
