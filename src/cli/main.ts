// The `confluo` command line.
import { Command } from 'commander';
import { copyCommand } from './copy-command.js';
import { listRejected, listSources, resetCheckpoint, runSource } from './source-commands.js';
import { ConfluoError } from '../errors/index.js';
import { listDeliveries, listIntegrations, replayIntegration, retryDelivery, setIntegration, showDelivery } from './delivery-commands.js';
import { createKey, listActions, listKeys, revokeKey } from './key-commands.js';
import { listParked, migrate, showCredentials, showEvent, unpark } from './operator.js';
import { start } from './start.js';
import { showStatus } from './status-command.js';
import { listMonitors, listTransitions, setMonitor } from './monitor-commands.js';
import { lineageCommand, traceCommand } from './trace-commands.js';
import { DEFAULTS } from '../hub/config.js';

export function program(): Command {
  const cli = new Command('confluo').description('Keeps customer data consistent across the systems that hold it.').showHelpAfterError();
  const dbOption = ['--db <url>', `database URL (default: $CONFLUO_DB, else the config's db, else ${DEFAULTS.db})`] as const;
  const configOption = ['-c, --config <file>', `the config whose db to use when neither --db nor $CONFLUO_DB names one (default: ./${DEFAULTS.configFile} if present)`] as const;

  cli
    .command('start')
    .description('run the hub: events in over HTTP, rules applied, read API served')
    .option('-c, --config <file>', `TypeScript config file (default: ./${DEFAULTS.configFile})`)
    .option('-p, --port <n>', `HTTP port (default: $CONFLUO_PORT, else the config's port, else ${DEFAULTS.port})`)
    .option('--host <host>', `address to listen on (default: $CONFLUO_HOST, else the config's host, else ${DEFAULTS.host})`)
    .option('--role <roles>', `all, or any of ingest, process, deliver, pull, comma-separated (default: $CONFLUO_ROLE or ${DEFAULTS.role})`)
    .option(...dbOption)
    .action(start);

  cli
    .command('credentials')
    .description('print the stored API key and admin token')
    .option(...dbOption).option(...configOption)
    .option('--data-dir <dir>', 'where credentials.json lives (default: the database folder)')
    .action(showCredentials);

  const parked = cli.command('parked').description('keys whose rule failed, waiting for an operator');
  parked.command('list').description('list parked keys with their errors').option(...dbOption).option(...configOption).action(listParked);
  parked
    .command('retry <entity> <key>')
    .description('run the parked event again')
    .option(...dbOption).option(...configOption)
    .action((entity: string, key: string, flags) => unpark('retry', entity, key, flags));
  parked
    .command('skip <entity> <key>')
    .description('give up on the parked event and let the key flow')
    .option(...dbOption).option(...configOption)
    .action((entity: string, key: string, flags) => unpark('skip', entity, key, flags));

  const events = cli.command('events').description('accepted events');
  events.command('show <id>').description("an event's status and the changes it made").option(...dbOption).option(...configOption).action(showEvent);

  cli
    .command('trace <id>')
    .description('a flow (or the flow of an event id) as a tree: source run, events, changes, deliveries, attempts')
    .option('--json', 'print JSON (as GET /api/v1/flows/<flowId>)')
    .option(...dbOption).option(...configOption)
    .action(traceCommand);
  cli
    .command('lineage <entity> <key> <field>')
    .description('every value a field (<part>.<field>) has had, where each went, and what each integration last received')
    .option('--json', 'print JSON (as GET /api/v1/entities/<entity>/<key>/lineage)')
    .option(...dbOption).option(...configOption)
    .action(lineageCommand);

  const deliveries = cli.command('deliveries').description('outbound deliveries and their attempts');
  deliveries
    .command('list')
    .description('newest first')
    .option('--integration <name>')
    .option('--status <status>', 'pending, succeeded, failed, dead or ignored')
    .option('--key <key>', 'entity key')
    .option('--limit <n>', 'how many', '50')
    .option(...dbOption).option(...configOption)
    .action(listDeliveries);
  deliveries.command('show <id>').description('a delivery with every attempt').option(...dbOption).option(...configOption).action(showDelivery);
  deliveries.command('retry <id>').description('send a failed, dead or succeeded delivery again').option(...dbOption).option(...configOption).action(retryDelivery);

  const integrations = cli.command('integrations').description('where changes go out');
  integrations.command('list').description('state and counts by status').option(...dbOption).option(...configOption).action(listIntegrations);
  integrations.command('pause <name>').description('hold deliveries (nothing is lost)').option(...dbOption).option(...configOption).action((name: string, flags) => setIntegration(name, 'pause', flags));
  integrations.command('resume <name>').description('send held deliveries').option(...dbOption).option(...configOption).action((name: string, flags) => setIntegration(name, 'resume', flags));
  integrations
    .command('replay <name>')
    .description('send again every delivery created in a time range')
    .requiredOption('--since <time>', 'ISO time')
    .option('--until <time>', 'ISO time (default: now)')
    .option(...dbOption).option(...configOption)
    .action(replayIntegration);

  const keys = cli.command('keys').description('API keys with scopes, kept hashed in the database');
  keys
    .command('create')
    .description('make a key and print it once')
    .requiredOption('--name <name>', 'what operator actions will call its holder')
    .requiredOption('--scope <scopes>', 'any of ingest, read, operate, admin, comma-separated')
    .option('--events <names>', 'an ingest key may send only these event names, comma-separated')
    .option('--signed', 'requests must carry a Standard Webhooks signature (prints the secret once; ingest keys only)')
    .option(...dbOption).option(...configOption)
    .action(createKey);
  keys.command('list').description('names, scopes, created, last used, revoked').option(...dbOption).option(...configOption).action(listKeys);
  keys.command('revoke <name>').description('stop the key working, in every running hub within a second').option(...dbOption).option(...configOption).action(revokeKey);

  cli
    .command('actions')
    .description('operator actions (API and CLI), newest first: who, what, when, on what')
    .option('--limit <n>', 'how many', '50')
    .option('--before <id>', 'go on before this action id')
    .option(...dbOption).option(...configOption)
    .action(listActions);

  cli
    .command('status')
    .description('processes with their loops and monitors with their states; exit 0 all up, 2 degraded, 1 down or in error')
    .option('--json', 'print JSON (as GET /api/v1/health)')
    .option(...dbOption).option(...configOption)
    .action(showStatus);

  const monitors = cli.command('monitors').description('outside services watched: http checks and push beats');
  monitors.command('list').description('every monitor the config defines, with its state').option('--json', 'print JSON').option(...dbOption).option(...configOption).action(listMonitors);
  monitors
    .command('transitions <name>')
    .description("a monitor's changes of state, newest first")
    .option('--limit <n>', 'how many', '50')
    .option('--before <id>', 'go on before this transition id')
    .option('--json', 'print JSON')
    .option(...dbOption).option(...configOption)
    .action(listTransitions);
  monitors.command('pause <name>').description('stop checking it and announcing it').option(...dbOption).option(...configOption).action((name: string, flags) => setMonitor(name, 'pause', flags));
  monitors.command('resume <name>').description('check it again; its next check decides and announces').option(...dbOption).option(...configOption).action((name: string, flags) => setMonitor(name, 'resume', flags));

  cli
    .command('migrate')
    .description('create or upgrade the database schema (start does it too); safe while other processes start')
    .option(...dbOption).option(...configOption)
    .action(migrate);
  cli
    .command('copy')
    .description('move an embedded SQLite database into an empty PostgreSQL one (stop the hub first)')
    .option('--from <url>', `sqlite:<path> to read (default: the hub's database, found as for --db)`)
    .requiredOption('--to <url>', 'postgres://… to write')
    .option(...configOption)
    .action(copyCommand);

  const sources = cli.command('sources').description('systems Confluo fetches from on a schedule');
  sources.command('list').description('schedule, state, last run and checkpoint of each source').option(...dbOption).option(...configOption).action(listSources);
  sources
    .command('run <name>')
    .description('run a source now, in this process, and print the run summary (refused while another run holds it)')
    .option('-c, --config <file>', 'the hub config that defines the source (its db is used when neither --db nor $CONFLUO_DB names one)')
    .option(...dbOption)
    .action(runSource);
  sources
    .command('rejected <name>')
    .description('items the source could not turn into events, with the reason')
    .option('--limit <n>', 'how many', '50')
    .option('--after <id>', 'go on after this rejected item id')
    .option(...dbOption).option(...configOption)
    .action(listRejected);
  sources
    .command('reset-checkpoint <name>')
    .description('read from the beginning on the next run (asks first)')
    .option('-y, --yes', 'do not ask')
    .option(...dbOption).option(...configOption)
    .action(resetCheckpoint);
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
