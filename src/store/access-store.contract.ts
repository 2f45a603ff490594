// The AccessStore contract: keys are found by hash only while active, one
// active key per name, and operator actions read back newest first.
import { describe, expect, it } from 'vitest';
import type { NewApiKey } from './access-store.js';
import { eachFreshStore, type StoreFixture } from './contract-fixtures.js';
import type { Store } from './store.js';

const T0 = 1_700_000_000_000;

const key = (name: string, over: Partial<NewApiKey> = {}): NewApiKey => ({
  id: `id-${name}`,
  name,
  hash: `hash-${name}`,
  scopes: ['ingest'],
  events: null,
  signingSecret: null,
  createdAt: T0,
  ...over,
});

export function describeAccessStoreContract(driver: string, open: () => Promise<StoreFixture>): void {
  describe(`AccessStore contract: ${driver}`, () => {
    let store: Store;
    eachFreshStore(open, (opened) => {
      store = opened;
    });

    it('finds an active key by its hash, with its scopes, events and signing secret', async () => {
      expect(await store.access.createKey(key('crm', { scopes: ['ingest', 'read'], events: ['crm:contact:updated'], signingSecret: 'whsec_x' }))).toBe(true);
      expect(await store.access.findKey('hash-crm')).toEqual({
        id: 'id-crm',
        name: 'crm',
        scopes: ['ingest', 'read'],
        events: ['crm:contact:updated'],
        signingSecret: 'whsec_x',
        createdAt: T0,
        lastUsedAt: null,
        revokedAt: null,
      });
      expect(await store.access.findKey('crm')).toBeUndefined();
      expect(await store.access.findKey('hash-other')).toBeUndefined();
    });

    it('keeps one active key per name, and frees the name when the key is revoked', async () => {
      expect(await store.access.createKey(key('crm'))).toBe(true);
      expect(await store.access.createKey(key('crm', { id: 'id-2', hash: 'hash-2' }))).toBe(false);
      expect(await store.access.findKey('hash-2')).toBeUndefined();
      expect(await store.access.revokeKey('crm', T0 + 5)).toBe(true);
      expect(await store.access.revokeKey('crm', T0 + 6)).toBe(false);
      expect(await store.access.findKey('hash-crm')).toBeUndefined();
      expect(await store.access.createKey(key('crm', { id: 'id-2', hash: 'hash-2', createdAt: T0 + 7 }))).toBe(true);
      const keys = await store.access.listKeys();
      expect(keys.map((k) => [k.id, k.revokedAt])).toEqual([
        ['id-crm', T0 + 5],
        ['id-2', null],
      ]);
      expect(await store.access.revokeKey('nobody', T0)).toBe(false);
    });

    it('notes when a key was last used, never moving it back', async () => {
      await store.access.createKey(key('crm'));
      await store.access.touchKey('id-crm', T0 + 60_000);
      await store.access.touchKey('id-crm', T0 + 1);
      expect((await store.access.findKey('hash-crm'))?.lastUsedAt).toBe(T0 + 60_000);
    });

    it('records operator actions and lists them newest first, page by page', async () => {
      for (let i = 1; i <= 3; i += 1) {
        await store.access.recordAction({ at: T0 + i, actor: 'ops', action: 'parked.retry', target: `customer/CC-${i}`, outcome: 'done', details: i === 2 ? { since: 'x' } : null });
      }
      const first = await store.access.listActions({ limit: 2 });
      expect(first.map((a) => a.target)).toEqual(['customer/CC-3', 'customer/CC-2']);
      expect(first[1]).toMatchObject({ at: T0 + 2, actor: 'ops', action: 'parked.retry', outcome: 'done', details: { since: 'x' } });
      const rest = await store.access.listActions({ limit: 2, before: first[1]!.id });
      expect(rest.map((a) => a.target)).toEqual(['customer/CC-1']);
    });
  });
}
