// `npm start` runs this: the customer-sync flow on the embedded SQLite store,
// with the support-desk and billing-alerts integrations when their URLs are set,
// and the billing-export pull source when BILLING_API_URL is set.
import { defineConfig } from 'confluo';
import { flow } from './flow.js';
import { integrationsFromEnv } from './integrations.js';
import { sourcesFromEnv } from './sources.js';

export default defineConfig({ flow, integrations: integrationsFromEnv(), sources: sourcesFromEnv() });
