// The pix-digest integration: once per PIX_DIGEST_WINDOW, one Slack message to
// SLACK_WEBHOOK_URL listing, for each watched account (PIX_WATCHED_ACCOUNTS)
// with cash-outs in the window, how many and how much, in pt-BR (R$ 1.234,56).
// A window without cash-outs of watched accounts sends nothing.
import { defineIntegration, skip, slackSink, type Integration } from 'confluo';
import { digestMessage, foldDigest } from 'confluo/slack';
import { cashoutRegistered } from './flow.js';
import { digestWindowMs } from './sources.js';

export const watchedAccounts = (env: NodeJS.ProcessEnv = process.env): Set<string> =>
  new Set((env.PIX_WATCHED_ACCOUNTS ?? '').split(',').map((a) => a.trim()).filter(Boolean));

export function pixDigest(env: NodeJS.ProcessEnv = process.env): Integration {
  const slackUrl = env.SLACK_WEBHOOK_URL || undefined;
  const watched = watchedAccounts(env);
  return defineIntegration({
    name: 'pix-digest',
    on: { events: [cashoutRegistered] },
    // Each cash-out of a watched account is one item of its window; the others are recorded as ignored.
    map: ({ payload }) => {
      if (!watched.has(payload.account)) return skip(`account ${payload.account} is not watched`);
      return { body: { account: payload.account, amountCents: payload.amountCents } };
    },
    digest: {
      windowMs: digestWindowMs(env),
      fold: (items, window) => {
        const groups = foldDigest(items, (c) => c.account, (c) => c.amountCents);
        const message = digestMessage({
          title: 'Saques Pix',
          windowStart: window.start.getTime(),
          windowEnd: window.end.getTime(),
          rows: groups.map((g) => ({ label: `Conta ${g.group}`, count: g.count, totalCents: g.total })),
          locale: 'pt-BR',
        });
        return message ? { body: message } : skip('no cash-outs of watched accounts in this window');
      },
    },
    sink: slackSink({ webhookUrl: slackUrl ?? 'http://slack.invalid/' }),
    disabled: !slackUrl ? 'SLACK_WEBHOOK_URL is unset' : watched.size === 0 ? 'PIX_WATCHED_ACCOUNTS is empty' : false,
  });
}
