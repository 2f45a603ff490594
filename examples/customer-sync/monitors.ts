// The example's monitors and the alert that tells people about them,
// configured from the environment:
// - WATCH_SERVICES (`crm=http://127.0.0.1:9100/health,billing=http://…`): one
//   http monitor per entry, called every WATCH_INTERVAL (default 10s);
// - HEARTBEAT_MONITORS (`nightly-export:1h,…`, name:interval): push monitors,
//   kept up by `POST /api/v1/heartbeats/<name>`;
// - service-alerts: every transition of every monitor (the hub's own processes
//   included) as a Slack message to ALERT_SLACK_WEBHOOK_URL; off while it is unset.
//   ALERT_REMIND_EVERY (e.g. `1h`) repeats a state other than up that long held.
import { ConfigError, defineMonitor, defineIntegration, parseDuration, slackSink, type Integration, type Monitor, type MonitorInput } from 'confluo';
import { context, escapeMrkdwn, fields, header, slackMessage, type SlackMessage } from 'confluo/slack';

/** A duration of at least a second (monitors check and beat no faster), or a ConfigError naming `what`. */
function duration(what: string, text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    throw new ConfigError(`${what}: ${(error as Error).message}`, { cause: error });
  }
  if (ms < 1000) throw new ConfigError(`${what} must be at least 1s, got "${text}"`);
  return ms;
}

/** The comma-separated entries of a variable, each handed to `make`; a bad one is a ConfigError naming it. */
function entries(env: NodeJS.ProcessEnv, name: string, make: (entry: string) => Monitor): Monitor[] {
  const list = (env[name] ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  return list.map((entry) => {
    try {
      return make(entry);
    } catch (error) {
      throw new ConfigError(`${name} entry "${entry}": ${(error as Error).message}`, { cause: error });
    }
  });
}

export function monitorsFromEnv(env: NodeJS.ProcessEnv = process.env): Monitor[] {
  // An empty variable counts as unset.
  const intervalMs = duration('WATCH_INTERVAL', env.WATCH_INTERVAL || '10s');
  const common = env.ALERT_REMIND_EVERY ? { remindEveryMs: duration('ALERT_REMIND_EVERY', env.ALERT_REMIND_EVERY) } : {};

  const http = entries(env, 'WATCH_SERVICES', (entry) => {
    const at = entry.indexOf('=');
    if (at < 1 || at === entry.length - 1) throw new ConfigError('write it as name=url, e.g. crm=http://127.0.0.1:9100/health');
    return defineMonitor({ kind: 'http', name: entry.slice(0, at).trim(), url: entry.slice(at + 1).trim(), intervalMs, ...common });
  });
  const push = entries(env, 'HEARTBEAT_MONITORS', (entry) => {
    const at = entry.indexOf(':');
    if (at < 1 || at === entry.length - 1) throw new ConfigError('write it as name:interval, e.g. nightly-export:1h');
    return defineMonitor({ kind: 'push', name: entry.slice(0, at).trim(), intervalMs: duration('the interval', entry.slice(at + 1).trim()), ...common });
  });

  const monitors = [...http, ...push];
  const seen = new Set<string>();
  for (const monitor of monitors) {
    if (seen.has(monitor.name)) throw new ConfigError(`monitor "${monitor.name}" is named twice in WATCH_SERVICES and HEARTBEAT_MONITORS`);
    seen.add(monitor.name);
  }
  return monitors;
}

/** Slack's limit on a header's text; a process's name (`process:<host>:<pid>:<id>`) can be long. */
const HEADER_LIMIT = 150;
/** Escaping can make text five times longer (`&` is `&amp;`): 300 characters stay within a field's 2000. */
const MESSAGE_LIMIT = 300;
const clip = (text: string, limit: number) => (text.length <= limit ? text : `${text.slice(0, limit - 1)}…`);

/** The Slack message for one transition (or a reminder of it). */
export function transitionMessage(input: MonitorInput): SlackMessage {
  const { monitor, monitorKind, from, to, reminder, since, message } = input;
  const title = reminder ? `Reminder: ${monitor} is still ${to}` : `${monitor}: ${from} → ${to}`;
  const said = message ? escapeMrkdwn(clip(message, MESSAGE_LIMIT)) : undefined;
  return slackMessage({
    text: said ? `${escapeMrkdwn(title)}: ${said}` : escapeMrkdwn(title),
    blocks: [
      header(clip(title, HEADER_LIMIT)),
      fields(
        `*Monitor*\n${escapeMrkdwn(monitor)} (${monitorKind})`,
        reminder ? `*State*\n${to} (reminder)` : `*Change*\n${from} → ${to}`,
        `*Since*\n${since.toISOString()}`,
        `*Message*\n${said ?? '-'}`,
      ),
      context('Sent by Confluo, integration service-alerts.'),
    ],
  });
}

export function alertsFromEnv(env: NodeJS.ProcessEnv = process.env): Integration[] {
  // An empty variable counts as unset.
  const slackUrl = env.ALERT_SLACK_WEBHOOK_URL || undefined;
  const serviceAlerts = defineIntegration({
    name: 'service-alerts',
    on: { monitors: 'all' },
    map: (input) => ({ body: transitionMessage(input) }),
    sink: slackSink({ webhookUrl: slackUrl ?? 'http://slack.invalid/' }),
    disabled: slackUrl ? false : 'ALERT_SLACK_WEBHOOK_URL is unset',
  });
  return [serviceAlerts];
}
