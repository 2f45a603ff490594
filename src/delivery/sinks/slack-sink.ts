// Slack incoming-webhook sink. The mapping returns a Block Kit message
// (`slackMessage(...)`); the webhook URL is a secret and is masked in logs.
import type { Dispatcher } from 'undici';
import type { OutboundOptions } from '../../security/outbound-policy.js';
import type { Sink } from '../sink.js';
import { httpSink } from './http-sink.js';

export interface SlackSinkOptions {
  /** `https://hooks.slack.com/services/T…/B…/…` */
  webhookUrl: string;
  /** Where it may connect. @defaultValue the hub config's `outbound`, else its defaults */
  outbound?: OutboundOptions;
  /** Sends through this dispatcher instead (a proxy, say); the outbound policy is then not applied. */
  dispatcher?: Dispatcher;
}

export function slackSink(options: SlackSinkOptions): Sink {
  // The last path segment of an incoming-webhook URL is its credential.
  const token = new URL(options.webhookUrl).pathname.split('/').filter(Boolean).at(-1);
  return httpSink({ kind: 'slack', url: options.webhookUrl, method: 'POST', outbound: options.outbound, dispatcher: options.dispatcher, secrets: token ? [token] : [] });
}
