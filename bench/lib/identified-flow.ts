// The example's contact flow with `email` declared as an identifier of the
// customer (read from contact.email, lower-cased): what the processing bench
// measures identifiers' cost with, against the example's own flow.
import { defineEntity, defineEvent, defineFlow, defineRule } from '../../src/flow/index.js';
import { contactUpdated, customer } from '../../examples/customer-sync/flow.js';

const identified = defineEntity({
  name: customer.name,
  key: { fields: customer.keyFields, separator: customer.separator },
  parts: customer.parts,
  identifiers: { email: { from: 'contact.email', normalise: 'lowercase' } },
});

const updated = defineEvent({
  name: contactUpdated.name,
  entity: identified,
  payload: contactUpdated.payload,
  key: (p) => ({ documentType: p.documentType, documentNumber: p.documentNumber }),
});

export const identifiedFlow = defineFlow({
  entities: [identified],
  events: [updated],
  rules: [defineRule({ event: updated, parts: ['contact'], apply: ({ payload }) => ({ contact: { name: payload.name, email: payload.email, phone: payload.phone } }) })],
});
