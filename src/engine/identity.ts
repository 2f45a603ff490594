// Which identifier values an applied event links to its record, and whether it
// may: a value another record holds, or one past the identifier's limit, parks
// the event instead. Pure, like apply-event: the processor reads the links it
// needs from the store first (a LinkBook) and commits the new ones with the batch.
import type { Entity } from '../flow/entity.js';
import type { EventType } from '../flow/event-type.js';
import { identifierValues } from '../flow/identifiers.js';
import type { IdentifierLink, InboxEvent, ParkedKey, StoredRecord } from '../store/types.js';

/** An identifier value an event links to its record. */
export interface WantedLink {
  identifier: string;
  value: string;
}

const valueId = (entity: string, identifier: string, value: string) => `${entity}\u0000${identifier}\u0000${value}`;
const countId = (entity: string, key: string, identifier: string) => `${entity}\u0000${key}\u0000${identifier}`;

/** The links a batch is checked against: who holds each value, how many values each key holds. */
export class LinkBook {
  readonly #holders = new Map<string, string>();
  readonly #counts = new Map<string, number>();

  constructor(links: Iterable<IdentifierLink> = []) {
    for (const link of links) this.add(link);
  }

  /** A copy to plan with, so a plan that is not committed leaves this book as it was. */
  fork(): LinkBook {
    const copy = new LinkBook();
    for (const [id, key] of this.#holders) copy.#holders.set(id, key);
    for (const [id, n] of this.#counts) copy.#counts.set(id, n);
    return copy;
  }

  holder(entity: string, identifier: string, value: string): string | undefined {
    return this.#holders.get(valueId(entity, identifier, value));
  }

  add(link: Pick<IdentifierLink, 'entity' | 'identifier' | 'value' | 'key'>): void {
    const id = valueId(link.entity, link.identifier, link.value);
    if (this.#holders.has(id)) return;
    this.#holders.set(id, link.key);
    const count = countId(link.entity, link.key, link.identifier);
    this.#counts.set(count, (this.#counts.get(count) ?? 0) + 1);
  }

  count(entity: string, key: string, identifier: string): number {
    return this.#counts.get(countId(entity, key, identifier)) ?? 0;
  }
}

/**
 * The values the event would link to its record: the identifier values its change set (those the
 * record did not have before), and the value it was routed by, once the record exists.
 */
export function wantedLinks(type: EventType, event: InboxEvent, before: StoredRecord | undefined, after: StoredRecord | undefined): WantedLink[] {
  if (after === undefined) return [];
  const wanted: WantedLink[] = [];
  if (type.route) {
    const parsed = type.payload.safeParse(event.envelope.payload);
    const route = parsed.success ? safeAddress(type, parsed.data) : undefined;
    if (route) wanted.push(route);
  }
  if (after !== before) {
    // Every value in a part the change wrote, changed or not (a part left alone keeps its object):
    // a record that held a value before its identifier was declared links it at the next write.
    const written = type.entity.identifiers.filter((i) => after.parts[i.part] !== before?.parts[i.part]);
    for (const [identifier, value] of identifierValues(written, after.parts)) {
      if (!wanted.some((w) => w.identifier === identifier && w.value === value)) wanted.push({ identifier, value });
    }
  }
  return wanted;
}

function safeAddress(type: EventType, payload: unknown): WantedLink | undefined {
  try {
    return type.address(payload).route;
  } catch {
    return undefined; // accepted, so routable then; a flow changed since is the rule's to report
  }
}

export type LinkCheck = { ok: true; links: IdentifierLink[] } | { ok: false; error: ParkedKey['error'] };

/** The new links of `wanted` for the record `key`, or why the event may not link them. */
export function checkLinks(entity: Entity, key: string, wanted: readonly WantedLink[], book: LinkBook, event: InboxEvent, now: number): LinkCheck {
  const links: IdentifierLink[] = [];
  const added = new Map<string, number>();
  for (const { identifier, value } of wanted) {
    const holder = book.holder(entity.name, identifier, value);
    if (holder === key) continue;
    if (holder !== undefined) {
      return {
        ok: false,
        error: {
          code: 'IDENTIFIER_CONFLICT',
          message: `${identifier} ${value} belongs to ${entity.name} ${holder}; this event would link it to ${entity.name} ${key} too (records are not merged yet)`,
          details: { identifier, value, holder, key },
        },
      };
    }
    const limit = entity.identifiers.find((i) => i.name === identifier)?.limit ?? 1;
    const count = book.count(entity.name, key, identifier) + (added.get(identifier) ?? 0) + 1;
    if (count > limit) {
      return {
        ok: false,
        error: {
          code: 'IDENTIFIER_LIMIT',
          message: `${entity.name} ${key} already holds ${limit} ${identifier} value${limit === 1 ? '' : 's'}, the limit; this event would link ${value} as one more`,
          details: { identifier, value, key, limit },
        },
      };
    }
    added.set(identifier, (added.get(identifier) ?? 0) + 1);
    links.push({ entity: entity.name, identifier, value, key, eventId: event.eventId, linkedAt: now });
  }
  return { ok: true, links };
}
