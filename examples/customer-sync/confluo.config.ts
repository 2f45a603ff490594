// `npm start` runs this: the customer-sync flow on the embedded SQLite store,
// with the support-desk and billing-alerts integrations when their URLs are set.
import { defineConfig } from '../../src/index.js';
import { flow } from './flow.js';
import { integrationsFromEnv } from './integrations.js';

export default defineConfig({ flow, integrations: integrationsFromEnv() });
