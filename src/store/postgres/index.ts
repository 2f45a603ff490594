export { PostgresStore } from './postgres-store.js';
export { type PostgresStoreOptions } from './connection.js';
export { MIGRATIONS, SchemaTooNewError } from './schema.js';
