// The Store contract: the suites of every part (`*-store.contract.ts`) and the
// store's own life cycle and counts, in one call each driver makes, so no
// driver can leave a part's suite out.
import { describe, expect, it } from 'vitest';
import { describeAccessStoreContract } from './access-store.contract.js';
import { eachFreshStore, emptyBatch, inboxEvent, record, type StoreFixture } from './contract-fixtures.js';
import { describeDeliveryStoreContract } from './delivery-store.contract.js';
import { describeHealthStoreContract } from './health-store.contract.js';
import { describeInboxStoreContract } from './inbox-store.contract.js';
import { describeRecordStoreContract } from './record-store.contract.js';
import { describeSourceStoreContract } from './source-store.contract.js';
import type { Store } from './store.js';

export type { StoreFixture };

export function describeStoreContract(driver: string, open: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${driver}`, () => {
    let store: Store;
    eachFreshStore(open, (opened) => {
      store = opened;
    });

    it('is safe to init again on an existing schema', async () => {
      await store.init();
      await store.inbox.accept([inboxEvent('CC-1')]);
      await store.init();
      expect((await store.stats()).queued).toBe(1);
    });

    it('counts queued events, parked keys and records', async () => {
      await store.inbox.accept([inboxEvent('CC-1'), inboxEvent('CC-2')]);
      await store.inbox.commitBatch({ ...emptyBatch(), records: [{ record: record('CC-3', 1, {}), expectedVersion: 0 }] });
      expect(await store.stats()).toEqual({ queued: 2, parkedKeys: 0, records: 1 });
      expect(await store.inbox.queued()).toBe(2);
    });
  });
  describeInboxStoreContract(driver, open);
  describeRecordStoreContract(driver, open);
  describeDeliveryStoreContract(driver, open);
  describeSourceStoreContract(driver, open);
  describeAccessStoreContract(driver, open);
  describeHealthStoreContract(driver, open);
}
