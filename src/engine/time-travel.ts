// Rebuilds a record as it was at a moment, from the audit trail alone: every
// field change up to that time, replayed in order.
import type { RecordStore } from '../store/record-store.js';
import type { StoredRecord } from '../store/types.js';

const PAGE = 1000;

export async function recordAt(store: RecordStore, entity: string, key: string, at: number): Promise<StoredRecord | undefined> {
  const parts: Record<string, Record<string, unknown>> = {};
  let version = 0;
  let createdAt = 0;
  let updatedAt = 0;
  let after = 0;
  for (;;) {
    const page = await store.listAudit(entity, key, { after, until: at, limit: PAGE });
    for (const entry of page) {
      const part = (parts[entry.part] ??= {});
      if (entry.newValue === undefined) delete part[entry.field];
      else part[entry.field] = entry.newValue;
      if (version === 0) createdAt = entry.at;
      version = entry.version;
      updatedAt = entry.at;
      after = entry.id;
    }
    if (page.length < PAGE) break;
  }
  return version === 0 ? undefined : { entity, key, version, parts, createdAt, updatedAt };
}
