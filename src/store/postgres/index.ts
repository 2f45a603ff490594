export { PostgresStore } from './postgres-store.js';
export { type PostgresStoreOptions, type StoreLog } from './connection.js';
export { MIGRATIONS, SchemaTooNewError } from './schema.js';
