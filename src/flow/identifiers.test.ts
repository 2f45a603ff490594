import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FlowDefinitionError } from '../errors/index.js';
import { defineEntity, KeyError } from './entity.js';
import { defineEvent } from './event-type.js';
import { identifierValues } from './identifiers.js';

const parts = { contact: z.object({ email: z.string().optional(), account: z.number().optional() }) };
const person = defineEntity({
  name: 'person',
  key: { fields: ['id'] },
  parts,
  identifiers: { email: { from: 'contact.email', normalise: 'lowercase', blocked: ['Nobody@Example.com'] }, account: { from: 'contact.account', limit: 1 } },
});

describe('identifiers', () => {
  it('normalises values and never links blocked ones: empty, null, zeros only, and the listed ones (normalised too)', () => {
    const email = person.identifiers[0]!;
    expect(email.normalise('  Ana@Example.COM ')).toBe('ana@example.com');
    for (const blocked of ['', '   ', 'null', 'NULL', 'undefined', '000', 0, 'nobody@example.com', undefined, null, { a: 1 }, ['x']]) {
      expect(email.normalise(blocked), String(blocked)).toBeUndefined();
    }
    const account = person.identifiers[1]!;
    expect(account.normalise(1015)).toBe('1015');
    expect(account.normalise(' NULL ')).toBeUndefined(); // trimmed only, and still blocked
    expect(account.limit).toBe(1);
    expect(email.limit).toBe(5);
  });

  it('reads each identifier out of a record’s parts', () => {
    expect([...identifierValues(person.identifiers, { contact: { email: 'A@X.io', account: 0 } })]).toEqual([['email', 'a@x.io']]);
    expect(identifierValues(person.identifiers, undefined).size).toBe(0);
  });

  it('refuses identifiers that name no part field, a bad limit or the name "key"', () => {
    const entity = (identifiers: Record<string, { from: string; limit?: number }>) => () => defineEntity({ name: 'p', key: { fields: ['id'] }, parts, identifiers });
    expect(entity({ email: { from: 'contact.mail' } })).toThrow(/"contact.mail", which is not a field/);
    expect(entity({ email: { from: 'contact' } })).toThrow(FlowDefinitionError);
    expect(entity({ email: { from: 'billing.email' } })).toThrow(FlowDefinitionError);
    expect(entity({ email: { from: 'contact.email', limit: 0 } })).toThrow(/limit 0/);
    expect(entity({ key: { from: 'contact.email' } })).toThrow(/"key" names the key itself/);
    expect(entity({ 'E-mail': { from: 'contact.email' } })).toThrow(/must match/);
  });

  it('routes an event by an identifier: the key a new record gets, and the value it is filed by', () => {
    const opened = defineEvent({ name: 'desk:ticket:opened', entity: person, payload: z.object({ email: z.string() }), route: { by: 'email', value: (p) => p.email } });
    expect(opened.route?.name).toBe('email');
    expect(opened.address({ email: ' Ana@Example.com' })).toEqual({ key: 'email:ana@example.com', route: { identifier: 'email', value: 'ana@example.com' } });
    expect(() => opened.address({ email: 'null' })).toThrow(KeyError);
    const keyed = defineEvent({ name: 'crm:person:seen', entity: person, payload: z.object({ id: z.string() }), key: (p) => ({ id: p.id }) });
    expect(keyed.address({ id: 'P-1' })).toEqual({ key: 'P-1' });
    expect(keyed.route).toBeUndefined();
  });

  it('refuses a route by an identifier the entity does not declare', () => {
    expect(() => defineEvent({ name: 'desk:ticket:opened', entity: person, payload: z.object({ phone: z.string() }), route: { by: 'phone', value: (p) => p.phone } })).toThrow(
      /routes by "phone", which entity "person" does not declare as an identifier \(declared: email, account\)/,
    );
  });
});
