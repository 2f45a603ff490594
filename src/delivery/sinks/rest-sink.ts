// REST sink: a JSON request to a URL template, signed with Standard Webhooks
// headers when a secret is given, authenticated with a bearer token or OAuth2.
import type { Dispatcher } from 'undici';
import type { OutboundOptions } from '../../security/outbound-policy.js';
import type { AuthOptions } from '../auth/index.js';
import type { Sink } from '../sink.js';
import { httpSink } from './http-sink.js';

export interface RestSinkOptions {
  /** e.g. `https://desk.example.com/customers/{key}` */
  url: string;
  /** @defaultValue 'POST' */
  method?: string;
  headers?: Record<string, string>;
  auth?: AuthOptions;
  /** Standard Webhooks signing secret, `whsec_…`. */
  secret?: string;
  /** Where it may connect. @defaultValue the hub config's `outbound`, else its defaults */
  outbound?: OutboundOptions;
  /** Sends through this dispatcher instead (a proxy, say); the outbound policy is then not applied. */
  dispatcher?: Dispatcher;
}

export function restSink(options: RestSinkOptions): Sink {
  return httpSink({ kind: 'rest', url: options.url, method: options.method, headers: options.headers, auth: options.auth, signingSecret: options.secret, outbound: options.outbound, dispatcher: options.dispatcher });
}
