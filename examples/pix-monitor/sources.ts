// The pix-log source: tails the JSON-lines transaction log at PIX_LOG_PATH and
// turns every `pix.cashout` line into a `pix:cashout:registered` event, keyed
// by account. The line's own eventId makes the event id, so a line read twice
// (a lost checkpoint, a reset) is never counted twice.
import { z } from 'zod';
import { defineSource, parseDuration, type Source } from 'confluo';
import { logTail } from 'confluo/sources';
import { cashoutRegistered } from './flow.js';

/** One line of the log, as the payments platform writes it. */
export const logLine = z.object({
  timestamp: z.iso.datetime({ offset: true }),
  eventId: z.string().min(1),
  type: z.string(),
  account: z.string().min(1),
  amountCents: z.number().int().positive(),
  transactionId: z.string().min(1),
});

export function pixLogSource(env: NodeJS.ProcessEnv = process.env): Source {
  const path = env.PIX_LOG_PATH || undefined;
  return defineSource({
    name: 'pix-log',
    driver: logTail({
      path: path ?? 'pix.log',
      // Decided on the raw line's JSON: other transaction types never reach validation.
      filter: { field: 'type', equals: 'pix.cashout' },
      ...(env.PIX_PAGE_LINES ? { pageSize: Number(env.PIX_PAGE_LINES) } : {}),
    }),
    schedule: { every: env.PIX_POLL_INTERVAL || '5s' },
    runAtStart: true,
    item: logLine,
    emits: cashoutRegistered,
    id: (line) => line.eventId,
    map: (line) => ({ account: line.account, amountCents: line.amountCents, transactionId: line.transactionId, timestamp: line.timestamp }),
    disabled: path ? false : 'PIX_LOG_PATH is unset',
  });
}

/** The digest window from PIX_DIGEST_WINDOW (`5m` by default). */
export const digestWindowMs = (env: NodeJS.ProcessEnv = process.env) => parseDuration(env.PIX_DIGEST_WINDOW || '5m');
