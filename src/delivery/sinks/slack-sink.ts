// Slack incoming-webhook sink. The mapping returns a Block Kit message
// (`slackMessage(...)`); the webhook URL is a secret and is masked in logs.
import type { Dispatcher } from 'undici';
import type { Sink } from '../sink.js';
import { httpSink } from './http-sink.js';

export interface SlackSinkOptions {
  /** `https://hooks.slack.com/services/T…/B…/…` */
  webhookUrl: string;
  dispatcher?: Dispatcher;
}

export function slackSink(options: SlackSinkOptions): Sink {
  const sink = httpSink({ kind: 'slack', url: options.webhookUrl, method: 'POST', dispatcher: options.dispatcher });
  const path = new URL(options.webhookUrl).pathname;
  return { ...sink, secrets: () => [...sink.secrets(), ...(path.length > 1 ? [path] : [])] };
}
