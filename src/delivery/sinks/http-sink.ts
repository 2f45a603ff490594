// The HTTP driver behind the REST and Slack sinks: JSON body, per-request
// timeout, optional auth (bearer or OAuth2, refreshed once on 401) and
// Standard Webhooks signing with a stable `webhook-id`.
import { request as httpRequest, type Dispatcher } from 'undici';
import { Webhook } from 'standardwebhooks';
import { createAuthenticator, maskHeaders, maskText, maskUrl, type AuthOptions } from '../auth/index.js';
import type { DeliveryRequest } from '../../store/delivery-types.js';
import type { Sink, SinkContext, SinkResponse } from '../sink.js';

export interface HttpSinkOptions {
  kind: string;
  /** A URL, or a template with `{key}`, `{entity}`, `{integration}`, `{eventId}` (each URL-encoded). */
  url: string;
  /** @defaultValue 'POST' */
  method?: string;
  headers?: Record<string, string>;
  auth?: AuthOptions;
  /** A Standard Webhooks secret (`whsec_…`): adds `webhook-id`, `webhook-timestamp`, `webhook-signature`. */
  signingSecret?: string;
  /** More values never to show in a log line (e.g. the secret part of a webhook URL). */
  secrets?: readonly string[];
  /** Bytes of response body kept for the log. @defaultValue 2048 */
  responseExcerpt?: number;
  dispatcher?: Dispatcher;
}

const PLACEHOLDER = /\{(key|entity|integration|eventId)\}/g;

export function expandUrl(template: string, context: Pick<SinkContext, 'key' | 'entity' | 'integration' | 'eventId'>): string {
  return template.replace(PLACEHOLDER, (_, name: keyof typeof context) => encodeURIComponent(context[name]));
}

export function httpSink(options: HttpSinkOptions): Sink {
  const authenticator = createAuthenticator(options.auth, options.dispatcher ? { dispatcher: options.dispatcher } : {});
  const webhook = options.signingSecret ? new Webhook(options.signingSecret) : undefined;
  const excerpt = options.responseExcerpt ?? 2048;
  const auth = options.auth as Partial<Record<'token' | 'clientSecret' | 'password', string>> | undefined;
  const secrets = [options.signingSecret, auth?.token, auth?.clientSecret, auth?.password, ...(options.secrets ?? [])].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );

  return {
    kind: options.kind,
    secrets: () => [...new Set(secrets)],
    async send(delivery: DeliveryRequest, context: SinkContext): Promise<SinkResponse> {
      const method = (delivery.method ?? options.method ?? 'POST').toUpperCase();
      const url = expandUrl(options.url, context);
      const body = JSON.stringify(delivery.body);
      const attempt = async (): Promise<SinkResponse> => {
        const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Confluo', ...options.headers, ...delivery.headers };
        if (webhook) {
          const now = new Date();
          headers['webhook-id'] = context.deliveryId;
          headers['webhook-timestamp'] = String(Math.floor(now.getTime() / 1000));
          headers['webhook-signature'] = webhook.sign(context.deliveryId, now, body);
        }
        const summary = () => ({ method, url: maskText(maskUrl(url), secrets), requestHeaders: maskHeaders(headers) });
        try {
          Object.assign(headers, await authenticator.headers());
          const response = await httpRequest(url, {
            method: method as Dispatcher.HttpMethod,
            headers,
            body: method === 'GET' || method === 'HEAD' ? undefined : body,
            signal: AbortSignal.timeout(context.timeoutMs),
            ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
          });
          const text = await response.body.text();
          // The credential actually sent (e.g. a fetched OAuth2 token) must not come back through an echo.
          const sent = headers.authorization?.split(' ').at(-1);
          return { ...summary(), status: response.statusCode, headers: response.headers, body: maskText(text.slice(0, excerpt), [...secrets, sent]) };
        } catch (error) {
          const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
          return { ...summary(), error: timedOut ? new Error(`no answer within ${context.timeoutMs} ms`) : error };
        }
      };
      const first = await attempt();
      if (first.status === 401 && options.auth?.type === 'oauth2') {
        // The cached token may have been revoked early: fetch a new one and try once more.
        authenticator.invalidate();
        return attempt();
      }
      return first;
    },
  };
}
