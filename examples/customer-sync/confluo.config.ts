// `npm start` runs this: the customer-sync flow on the embedded SQLite store,
// with the support-desk and billing-alerts integrations when their URLs are set,
// the billing-export pull source when BILLING_API_URL is set, the services named
// in WATCH_SERVICES and HEARTBEAT_MONITORS watched, and their changes sent to
// Slack when ALERT_SLACK_WEBHOOK_URL is set.
import { defineConfig } from 'confluo';
import { flow } from './flow.js';
import { integrationsFromEnv } from './integrations.js';
import { alertsFromEnv, monitorsFromEnv } from './monitors.js';
import { sourcesFromEnv } from './sources.js';

export default defineConfig({ flow, integrations: [...integrationsFromEnv(), ...alertsFromEnv()], sources: sourcesFromEnv(), monitors: monitorsFromEnv() });
