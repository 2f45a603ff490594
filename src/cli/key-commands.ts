// `confluo keys` (create, list, revoke) and `confluo actions`, on the database
// directly. A key is printed once, when created; the store keeps its hash.
// A revoked key stops working in every running hub within a second.
import { ConfigError } from '../errors/index.js';
import { createApiKey, KeyNameTakenError } from '../security/api-keys.js';
import { SCOPES, type Scope } from '../store/access-store.js';
import { recordCliAction, withStore, type StoreFlags } from './operator.js';

const out = (text: string) => process.stdout.write(`${text}\n`);
const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
const list = (text: string | undefined) => (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);

export interface CreateKeyFlags extends StoreFlags {
  name?: string;
  scope?: string;
  events?: string;
  signed?: boolean;
}

export async function createKey(flags: CreateKeyFlags): Promise<void> {
  const scopes = list(flags.scope);
  const unknown = scopes.filter((s) => !SCOPES.includes(s as Scope));
  if (!flags.name || scopes.length === 0 || unknown.length > 0) {
    throw new ConfigError(`keys create needs --name <name> and --scope with any of ${SCOPES.join(', ')}, comma-separated${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
  }
  const events = list(flags.events);
  await withStore(flags, async (store) => {
    let created;
    try {
      created = await createApiKey(store.access, { name: flags.name!, scopes: scopes as Scope[], ...(events.length ? { events } : {}), signed: flags.signed ?? false }, Date.now());
    } catch (error) {
      if (!(error instanceof KeyNameTakenError)) throw error;
      await recordCliAction(store, 'key.create', flags.name!, 'name taken');
      throw error;
    }
    const { record } = created;
    await recordCliAction(store, 'key.create', record.name, 'done', { scopes: record.scopes, events: record.events, signed: record.signingSecret !== null });
    out(`key ${record.name} (${record.scopes.join(', ')}${record.events ? `; events: ${record.events.join(', ')}` : ''}):`);
    out(`  ${created.key}`);
    if (created.signingSecret) out(`signing secret (Standard Webhooks; sign every request with it):\n  ${created.signingSecret}`);
    process.stderr.write('shown once: the database keeps only a hash of the key\n');
  });
}

export async function listKeys(flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const keys = await store.access.listKeys();
    if (keys.length === 0) return out('no stored keys (the configured API key and admin token work without any)');
    for (const k of keys) {
      const state = k.revokedAt === null ? 'active' : `revoked ${when(k.revokedAt)}`;
      const events = k.events ? `  events ${k.events.join(',')}` : '';
      out(`${k.name.padEnd(20)} ${k.scopes.join(',').padEnd(26)} created ${when(k.createdAt)}  last used ${when(k.lastUsedAt)}  ${state}${k.signingSecret ? '  signed' : ''}${events}`);
    }
  });
}

export async function revokeKey(name: string, flags: StoreFlags): Promise<void> {
  await withStore(flags, async (store) => {
    const ok = await store.access.revokeKey(name, Date.now());
    await recordCliAction(store, 'key.revoke', name, ok ? 'done' : 'not found');
    if (!ok) {
      process.stderr.write(`no active key named ${name}\n`);
      process.exitCode = 1;
      return;
    }
    out(`${name}: revoked; running hubs refuse it within a second`);
  });
}

export async function listActions(flags: StoreFlags & { limit?: string; before?: string }): Promise<void> {
  const limit = Number(flags.limit ?? 50);
  const before = flags.before === undefined ? undefined : Number(flags.before);
  if (!Number.isInteger(limit) || limit < 1) throw new ConfigError(`--limit must be a whole number from 1, got "${flags.limit}"`);
  if (before !== undefined && !(Number.isInteger(before) && before > 0)) throw new ConfigError(`--before must be an action's id, got "${flags.before}"`);
  await withStore(flags, async (store) => {
    const actions = await store.access.listActions({ limit, ...(before !== undefined ? { before } : {}) });
    if (actions.length === 0) return out(before ? 'no older actions' : 'no operator actions yet');
    for (const a of actions) {
      out(`#${a.id} ${when(a.at)}  ${a.actor}  ${a.action} ${a.target}  ${a.outcome}${a.details === null ? '' : `  ${JSON.stringify(a.details)}`}`);
    }
    if (actions.length === limit) out(`(older: --before ${actions.at(-1)?.id})`);
  });
}
