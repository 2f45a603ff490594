// Runs the Fastify + BullMQ alternative as its own process for the benchmark:
// `tsx bench/alternative/serve.ts` with RECEIVER_URL set; prints its URL.
import { startAlternative } from './fastify-bullmq.js';

const receiverUrl = process.env.RECEIVER_URL;
if (!receiverUrl) throw new Error('RECEIVER_URL is required');
const running = await startAlternative({ receiverUrl, ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}) });
process.stdout.write(`LISTENING ${running.url}\n`);
process.once('SIGTERM', () => {
  running.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
