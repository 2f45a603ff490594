// The Pix cash-out monitor:
//   PIX_LOG_PATH=./pix.log PIX_WATCHED_ACCOUNTS=0001-1,0002-9 SLACK_WEBHOOK_URL=https://hooks.slack.com/services/… \
//   npx confluo start --config examples/pix-monitor/confluo.config.ts
import { defineConfig } from 'confluo';
import { flow } from './flow.js';
import { pixDigest } from './integrations.js';
import { pixLogSource } from './sources.js';

export default defineConfig({ flow, sources: [pixLogSource()], integrations: [pixDigest()] });
