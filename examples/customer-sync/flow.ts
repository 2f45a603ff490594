// The customer-sync example: a CRM, a billing system and a preferences
// service each own a part of one unified customer record.
import { z } from 'zod';
import { defineEntity, defineEvent, defineFlow, defineRule } from 'confluo';

export const customer = defineEntity({
  name: 'customer',
  key: { fields: ['documentType', 'documentNumber'], separator: '-' },
  parts: {
    contact: z.object({
      name: z.string().min(1),
      email: z.email(),
      phone: z.string().optional(),
    }),
    billing: z.object({
      plan: z.enum(['free', 'pro', 'enterprise']),
      status: z.enum(['active', 'past_due', 'canceled']),
    }),
    preferences: z.object({
      language: z.string().min(1),
      marketingOptIn: z.boolean(),
    }),
  },
});

const document = {
  documentType: z.string().min(1),
  documentNumber: z.string().min(1),
};
const customerKey = (p: { documentType: string; documentNumber: string }) => ({
  documentType: p.documentType,
  documentNumber: p.documentNumber,
});

export const contactUpdated = defineEvent({
  name: 'crm:contact:updated',
  version: 1,
  entity: customer,
  payload: z.object({ ...document, name: z.string().min(1), email: z.email(), phone: z.string().optional() }),
  key: customerKey,
});

export const subscriptionChanged = defineEvent({
  name: 'billing:subscription:changed',
  version: 1,
  entity: customer,
  payload: z.object({ ...document, plan: z.enum(['free', 'pro', 'enterprise']), status: z.enum(['active', 'past_due', 'canceled']) }),
  key: customerKey,
});

export const preferencesUpdated = defineEvent({
  name: 'preferences:updated',
  version: 1,
  entity: customer,
  payload: z.object({ ...document, language: z.string().min(1), marketingOptIn: z.boolean() }),
  key: customerKey,
});

export const flow = defineFlow({
  entities: [customer],
  events: [contactUpdated, subscriptionChanged, preferencesUpdated],
  rules: [
    defineRule({
      event: contactUpdated,
      parts: ['contact'],
      apply: ({ payload }) => ({ contact: { name: payload.name, email: payload.email, phone: payload.phone } }),
    }),
    defineRule({
      event: subscriptionChanged,
      parts: ['billing'],
      apply: ({ payload }) => ({ billing: { plan: payload.plan, status: payload.status } }),
    }),
    defineRule({
      event: preferencesUpdated,
      parts: ['preferences'],
      apply: ({ payload }) => ({ preferences: { language: payload.language, marketingOptIn: payload.marketingOptIn } }),
    }),
  ],
});
