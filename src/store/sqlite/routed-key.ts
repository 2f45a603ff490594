// Where an accepted event is filed on SQLite: a routed event under the key of
// the record its identifier value is linked to, when one is (InboxStore.accept);
// shared by pushed events and source pages.
import type Database from 'better-sqlite3';
import type { NewInboxEvent } from '../types.js';

/** Returns the key to file each event under, reading links with one prepared statement. */
export function routedKeys(db: Database.Database): (event: NewInboxEvent) => string {
  const linked = db.prepare('SELECT key FROM identifier_links WHERE entity = ? AND identifier = ? AND value = ?').pluck();
  return (e) => (e.route ? ((linked.get(e.entity, e.route.identifier, e.route.value) as string | undefined) ?? e.key) : e.key);
}
