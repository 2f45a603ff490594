// The `confluo` command line.
import { Command } from 'commander';
import { ConfluoError } from '../errors/index.js';
import { listParked, showCredentials, showEvent, unpark } from './operator.js';
import { start } from './start.js';

export function program(): Command {
  const cli = new Command('confluo').description('Keeps customer data consistent across the systems that hold it.').showHelpAfterError();
  const dbOption = ['--db <url>', 'database URL (default: $CONFLUO_DB or sqlite:./.confluo/confluo.db)'] as const;

  cli
    .command('start')
    .description('run the hub: events in over HTTP, rules applied, read API served')
    .option('-c, --config <file>', 'TypeScript config file (default: ./confluo.config.ts)')
    .option('-p, --port <n>', 'HTTP port (default: $CONFLUO_PORT or 8080)')
    .option('--host <host>', 'address to listen on (default: $CONFLUO_HOST or 127.0.0.1)')
    .option(...dbOption)
    .action(start);

  cli
    .command('credentials')
    .description('print the stored API key and admin token')
    .option(...dbOption)
    .option('--data-dir <dir>', 'where credentials.json lives (default: the database folder)')
    .action(showCredentials);

  const parked = cli.command('parked').description('keys whose rule failed, waiting for an operator');
  parked.command('list').description('list parked keys with their errors').option(...dbOption).action(listParked);
  parked
    .command('retry <entity> <key>')
    .description('run the parked event again')
    .option(...dbOption)
    .action((entity: string, key: string, flags) => unpark('retry', entity, key, flags));
  parked
    .command('skip <entity> <key>')
    .description('give up on the parked event and let the key flow')
    .option(...dbOption)
    .action((entity: string, key: string, flags) => unpark('skip', entity, key, flags));

  const events = cli.command('events').description('accepted events');
  events.command('show <id>').description("an event's status and the changes it made").option(...dbOption).action(showEvent);
  return cli;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    const message = error instanceof ConfluoError ? `${error.message}` : error instanceof Error ? error.stack ?? error.message : String(error);
    process.stderr.write(`confluo: ${message}\n`);
    process.exitCode = 1;
  }
}
