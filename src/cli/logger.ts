// The logger of `confluo start`: JSON lines when stdout is a pipe or a file (what
// log shippers read), readable lines through pino-pretty on a terminal. Both go
// through the same LogDestination, synchronously, so a full disk or a closed
// terminal drops lines instead of stopping the hub, and no worker thread or
// stream is added that could fail on its own.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogDestination } from './log-destination.js';

/**
 * Where credentials would sit if a line ever carried a request's headers. No log call does today
 * (Fastify's request logging is off, attempts are logged without headers); this keeps it so.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'requestHeaders.authorization',
  'requestHeaders.cookie',
];

export interface CliLoggerOptions {
  level: string;
  destination: LogDestination;
  /** @defaultValue whether stdout is a terminal */
  pretty?: boolean;
}

export async function cliLogger(options: CliLoggerOptions): Promise<Logger> {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const stream = pretty ? await prettyStream(options.destination) : options.destination;
  return pino({ level: options.level, redact: { paths: REDACTED_PATHS, censor: '****' } }, stream);
}

/** pino-pretty's formatter in front of the destination; a line it cannot format goes out as it came. */
async function prettyStream(destination: LogDestination): Promise<DestinationStream> {
  const { prettyFactory } = (await import('pino-pretty')).default;
  const format = prettyFactory({ colorize: !process.env.NO_COLOR, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return {
    write(line: string) {
      let text: string;
      try {
        text = format(line);
      } catch {
        text = line;
      }
      destination.write(text);
    },
  };
}
