// Operator commands that read or fix the store directly (no running hub
// needed): credentials, parked keys, event traces. What they change is
// recorded as an operator action by `cli:<os user>`.
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { maskUrl } from '../delivery/auth/index.js';
import { readStoredCredentials } from '../hub/credentials.js';
import { openStore, sqlitePath } from '../hub/open-store.js';
import type { Store } from '../store/store.js';
import type { Json } from '../store/types.js';

export interface StoreFlags {
  db?: string;
}

const dbUrl = (flags: StoreFlags) => flags.db ?? process.env.CONFLUO_DB ?? 'sqlite:./.confluo/confluo.db';

export async function withStore<T>(flags: StoreFlags, run: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(dbUrl(flags));
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

/** Who the command line acts as: the operating-system user (a shell's $USER can say anything). */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/** Records what a command did; `outcome` is `done` or why nothing happened. */
export function recordCliAction(store: Store, action: string, target: string, outcome: string, details: Json | null = null): Promise<void> {
  return store.access.recordAction({ at: Date.now(), actor: cliActor(), action, target, outcome, details });
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

export function showCredentials(flags: StoreFlags & { dataDir?: string }): void {
  const file = sqlitePath(dbUrl(flags));
  const dataDir = resolve(flags.dataDir ?? process.env.CONFLUO_DATA_DIR ?? (file && file !== ':memory:' ? resolve(file, '..') : '.confluo'));
  const stored = readStoredCredentials(dataDir);
  if (!stored) {
    process.stderr.write(`no stored credentials in ${dataDir}; \`confluo start\` generates them on first start\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`API key:      ${stored.apiKey}\nAdmin token:  ${stored.adminToken}\n`);
  if (process.env.CONFLUO_API_KEYS) process.stderr.write('note: CONFLUO_API_KEYS is set, so the running hub uses those keys instead of the stored one\n');
}

export async function migrate(flags: StoreFlags): Promise<void> {
  const url = dbUrl(flags);
  // Opening a store applies the migrations it lacks (under a lock on PostgreSQL) and refuses a newer schema.
  await withStore(flags, async (store) => {
    process.stdout.write(`${store.driver} database ${maskUrl(url)} is at the schema this Confluo knows\n`);
  });
}

export async function listParked(flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const parked = await store.inbox.listParked();
    if (parked.length === 0) {
      process.stdout.write('no parked keys\n');
      return;
    }
    for (const p of parked) {
      process.stdout.write(`${p.entity}/${p.key}  event ${p.eventId}  ${p.waiting} waiting  since ${new Date(p.parkedAt).toISOString()}\n  ${p.error.code}: ${p.error.message}\n`);
    }
  });
}

export async function unpark(action: 'retry' | 'skip', entity: string, key: string, flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    if (action === 'retry') {
      const ok = await store.inbox.retryParked(entity, key);
      await recordCliAction(store, 'parked.retry', `${entity}/${key}`, ok ? 'done' : 'not parked');
      process.stdout.write(ok ? `${entity}/${key}: its parked event will run again\n` : `${entity}/${key} is not parked\n`);
      if (!ok) process.exitCode = 1;
      return;
    }
    const skipped = await store.inbox.skipParked(entity, key);
    await recordCliAction(store, 'parked.skip', `${entity}/${key}`, skipped ? 'done' : 'not parked');
    process.stdout.write(skipped ? `${entity}/${key}: skipped event ${skipped.skippedEventId}; the key flows again\n` : `${entity}/${key} is not parked\n`);
    if (!skipped) process.exitCode = 1;
  });
}

export async function showEvent(eventId: string, flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const trace = await store.records.getEvent(eventId);
    if (!trace) {
      process.stderr.write(`no event with id ${eventId}\n`);
      process.exitCode = 1;
      return;
    }
    print(trace);
  });
}
