// Small flows for tests: a ledger whose rule can be told to fail, so parking
// and per-key order can be observed.
import { z } from 'zod';
import { defineEntity, defineEvent, defineFlow, defineRule } from '../../src/flow/index.js';

export const account = defineEntity({
  name: 'account',
  key: { fields: ['id'] },
  parts: {
    ledger: z.object({ balance: z.number().int(), entries: z.number().int(), last: z.string().optional(), history: z.array(z.string()) }),
    profile: z.object({ owner: z.string() }),
  },
});

export const entryPosted = defineEvent({
  name: 'ledger:entry:posted',
  entity: account,
  payload: z.object({ id: z.string(), amount: z.number().int(), label: z.string(), fail: z.boolean().optional(), badOutput: z.boolean().optional() }),
  key: (p) => ({ id: p.id }),
});

export const ownerSet = defineEvent({
  name: 'ledger:owner:set',
  entity: account,
  payload: z.object({ id: z.string(), owner: z.string() }),
  key: (p) => ({ id: p.id }),
});

/** Fails while `failing` holds the label; tests flip it to simulate a fixed bug. */
export const failing = new Set<string>();

export const ledgerFlow = defineFlow({
  entities: [account],
  events: [entryPosted, ownerSet],
  rules: [
    defineRule({
      event: entryPosted,
      parts: ['ledger'],
      apply: ({ payload }, current) => {
        if (payload.fail || failing.has(payload.label)) throw new Error(`cannot post ${payload.label}`);
        const ledger = current?.parts.ledger ?? { balance: 0, entries: 0, history: [] };
        if (payload.badOutput) return { ledger: { ...ledger, balance: 'lots' as unknown as number } };
        return { ledger: { balance: ledger.balance + payload.amount, entries: ledger.entries + 1, last: payload.label, history: [...ledger.history, payload.label] } };
      },
    }),
    defineRule({
      event: ownerSet,
      parts: ['profile'],
      apply: ({ payload }) => ({ profile: { owner: payload.owner } }),
    }),
  ],
});
