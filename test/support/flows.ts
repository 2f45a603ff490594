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

/** Members known by id to the CRM and by email alone to the help desk: identifiers, routing and links. */
export const member = defineEntity({
  name: 'member',
  key: { fields: ['id'] },
  parts: {
    contact: z.object({ name: z.string(), email: z.string().optional() }),
    support: z.object({ openTickets: z.number().int(), lastTicketAt: z.string() }),
  },
  identifiers: { email: { from: 'contact.email', normalise: 'lowercase', blocked: ['noreply@example.com'], limit: 2 } },
});

export const memberUpdated = defineEvent({
  name: 'crm:member:updated',
  entity: member,
  payload: z.object({ id: z.string(), name: z.string(), email: z.string().optional() }),
  key: (p) => ({ id: p.id }),
});

export const ticketOpened = defineEvent({
  name: 'desk:ticket:opened',
  entity: member,
  payload: z.object({ email: z.string(), ticketId: z.string(), openedAt: z.string() }),
  route: { by: 'email', value: (p) => p.email },
});

export const memberFlow = defineFlow({
  entities: [member],
  events: [memberUpdated, ticketOpened],
  rules: [
    defineRule({ event: memberUpdated, parts: ['contact'], apply: ({ payload }) => ({ contact: { name: payload.name, email: payload.email } }) }),
    defineRule({
      event: ticketOpened,
      parts: ['support'],
      apply: ({ payload }, current) => ({ support: { openTickets: (current?.parts.support?.openTickets ?? 0) + 1, lastTicketAt: payload.openedAt } }),
    }),
  ],
});
