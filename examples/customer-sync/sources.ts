// The example's pull source, configured from the environment:
// - billing-export: every BILLING_POLL_INTERVAL (1m), GET
//   ${BILLING_API_URL}/subscriptions?since=<checkpoint> (bearer BILLING_API_TOKEN
//   when set), following `next` cursors, and feed each subscription to
//   `billing:subscription:changed`. Off while BILLING_API_URL is unset.
import { z } from 'zod';
import { defineSource, type Source } from 'confluo';
import { httpPoll } from 'confluo/sources';
import { subscriptionChanged } from './flow.js';

/** One subscription as the billing system exports it. */
export const exportedSubscription = z.object({
  documentType: z.string().min(1),
  documentNumber: z.string().min(1),
  plan: z.enum(['free', 'pro', 'enterprise']),
  status: z.enum(['active', 'past_due', 'canceled']),
  updatedAt: z.iso.datetime({ offset: true }),
});

export function sourcesFromEnv(env: NodeJS.ProcessEnv = process.env): Source[] {
  const base = env.BILLING_API_URL?.replace(/\/+$/, '') || undefined;
  const billingExport = defineSource({
    name: 'billing-export',
    driver: httpPoll({
      url: `${base ?? 'http://billing.invalid'}/subscriptions`,
      sinceParam: 'since',
      // The next run asks only for what changed after the newest change seen.
      sinceOf: 'updatedAt',
      ...(env.BILLING_API_TOKEN ? { auth: { type: 'bearer' as const, token: env.BILLING_API_TOKEN } } : {}),
    }),
    schedule: { every: env.BILLING_POLL_INTERVAL || '1m' },
    runAtStart: true,
    item: exportedSubscription,
    emits: subscriptionChanged,
    // A subscription changes many times: each change (document + time) is its own event.
    id: (s) => `${s.documentType}-${s.documentNumber}@${s.updatedAt}`,
    // An unknown plan or status fails the item schema: the item is rejected with the reason, the run goes on.
    map: (s) => ({ documentType: s.documentType, documentNumber: s.documentNumber, plan: s.plan, status: s.status }),
    disabled: base ? false : 'BILLING_API_URL is unset',
  });
  return [billingExport];
}
