// The Pix cash-out monitor: a payments team tails its transaction log and
// keeps, per account, how many Pix cash-outs there were and how much left.
import { z } from 'zod';
import { defineEntity, defineEvent, defineFlow, defineRule } from 'confluo';

export const account = defineEntity({
  name: 'account',
  key: { fields: ['account'] },
  parts: {
    cashouts: z.object({
      count: z.number().int().min(0),
      /** Integer centavos: money is never a float. */
      totalCents: z.number().int().min(0),
      lastAt: z.iso.datetime({ offset: true }),
    }),
  },
});

export const cashoutRegistered = defineEvent({
  name: 'pix:cashout:registered',
  version: 1,
  entity: account,
  payload: z.object({
    account: z.string().min(1),
    amountCents: z.number().int().positive(),
    transactionId: z.string().min(1),
    timestamp: z.iso.datetime({ offset: true }),
  }),
  key: (p) => ({ account: p.account }),
});

export const flow = defineFlow({
  entities: [account],
  events: [cashoutRegistered],
  rules: [
    defineRule({
      event: cashoutRegistered,
      parts: ['cashouts'],
      apply: ({ payload }, current) => {
        const before = current?.parts.cashouts ?? { count: 0, totalCents: 0, lastAt: payload.timestamp };
        // Lines can arrive out of time order across rotated files; keep the latest moment seen.
        const lastAt = Date.parse(payload.timestamp) > Date.parse(before.lastAt) ? payload.timestamp : before.lastAt;
        return { cashouts: { count: before.count + 1, totalCents: before.totalCents + payload.amountCents, lastAt } };
      },
    }),
  ],
});
