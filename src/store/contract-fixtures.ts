// What every Store contract suite shares: the fixture a driver opens for each
// test, and small builders of inbox events, records and batches.
import { afterEach, beforeEach } from 'vitest';
import type { Store } from './store.js';
import type { BatchCommit, NewInboxEvent, StoredRecord } from './types.js';

export interface StoreFixture {
  store: Store;
  cleanup: () => Promise<void>;
}

/** Opens a fresh store before each test of the suite, hands it to `use` (which may set it up), and cleans it up after. */
export function eachFreshStore(open: () => Promise<StoreFixture>, use: (store: Store) => void | Promise<void>): void {
  let fixture: StoreFixture | undefined;
  beforeEach(async () => {
    fixture = await open();
    await use(fixture.store);
  });
  afterEach(async () => {
    await fixture?.cleanup();
  });
}

let n = 0;
export const inboxEvent = (key: string, over: Partial<NewInboxEvent> = {}): NewInboxEvent => {
  n += 1;
  return {
    eventId: `e-${n}`,
    name: 'crm:contact:updated',
    version: 1,
    flowId: `f-${n}`,
    entity: 'customer',
    key,
    envelope: { name: 'crm:contact:updated', version: 1, payload: { n } },
    acceptedAt: 1_700_000_000_000 + n,
    ...over,
  };
};

export const emptyBatch = (): BatchCommit => ({ records: [], audit: [], changes: [], deliveries: [], digestItems: [], processed: [], parked: [] });

export const record = (key: string, version: number, parts: StoredRecord['parts'], at = 1000 * version): StoredRecord => ({
  entity: 'customer',
  key,
  version,
  parts,
  createdAt: 1000,
  updatedAt: at,
});
