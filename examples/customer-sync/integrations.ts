// The example's two integrations, configured from the environment:
// - support-desk: PUT ${SUPPORT_DESK_URL}/customers/<key> on any change to
//   contact or billing, signed with SUPPORT_DESK_SECRET (Standard Webhooks);
// - billing-alerts: a Slack message to SLACK_WEBHOOK_URL when a customer's
//   billing status becomes past_due.
import { defineIntegration, parseDurationList, restSink, skip, slackSink, type Integration } from 'confluo';
import { context, escapeMrkdwn, header, section, slackMessage } from 'confluo/slack';
import { customer } from './flow.js';

export function integrationsFromEnv(env: NodeJS.ProcessEnv = process.env): Integration[] {
  // An empty variable counts as unset.
  const deskUrl = env.SUPPORT_DESK_URL?.replace(/\/+$/, '') || undefined;
  const slackUrl = env.SLACK_WEBHOOK_URL || undefined;

  const supportDesk = defineIntegration({
    name: 'support-desk',
    on: { entity: customer, parts: ['contact', 'billing'] },
    map: ({ key, record, version }) => ({
      body: {
        key,
        name: record.contact?.name ?? null,
        email: record.contact?.email ?? null,
        plan: record.billing?.plan ?? null,
        status: record.billing?.status ?? null,
        version,
      },
    }),
    sink: restSink({ url: `${deskUrl ?? 'http://support-desk.invalid'}/customers/{key}`, method: 'PUT', ...(env.SUPPORT_DESK_SECRET ? { secret: env.SUPPORT_DESK_SECRET } : {}) }),
    ...(env.SUPPORT_DESK_RETRY_SCHEDULE ? { retry: { delaysMs: parseDurationList(env.SUPPORT_DESK_RETRY_SCHEDULE) } } : {}),
    // The desk keeps the newest version it saw; sending a key's changes in order keeps it right.
    ordered: true,
    // Per-key order already keeps one request per customer in flight; this bounds the desk's total load.
    concurrency: 32,
    disabled: deskUrl ? false : 'SUPPORT_DESK_URL is unset',
  });

  const billingAlerts = defineIntegration({
    name: 'billing-alerts',
    on: { entity: customer, parts: ['billing'] },
    map: ({ key, record, diffs }) => {
      const becamePastDue = diffs.some((d) => d.part === 'billing' && d.field === 'status' && d.newValue === 'past_due');
      if (!becamePastDue) return skip('billing status did not become past_due');
      const who = record.contact?.name ? `${escapeMrkdwn(record.contact.name)} (${key})` : key;
      const plan = record.billing?.plan ?? 'unknown';
      return {
        body: slackMessage({
          text: `Customer ${key} is past due on the ${plan} plan`,
          blocks: [header('Customer past due'), section(`*${who}* is past due on the *${plan}* plan.`), context('Sent by Confluo, integration billing-alerts.')],
        }),
      };
    },
    sink: slackSink({ webhookUrl: slackUrl ?? 'http://slack.invalid/' }),
    disabled: slackUrl ? false : 'SLACK_WEBHOOK_URL is unset',
  });

  return [supportDesk, billingAlerts];
}
