// `confluo start`: load the config, open the store, serve until a signal.
import { ConfigError } from '../errors/index.js';
import { findConfigFile, loadConfigFile, resolveSettings, type Flags } from '../hub/config.js';
import { createHub, hubOptionsFrom } from '../hub/create-hub.js';
import { loadCredentials } from '../hub/credentials.js';
import { openStore } from '../hub/open-store.js';
import { newProcessId } from '../hub/process-beats.js';
import type { ModeReport } from '../security/private-files.js';
import { maskUrl } from '../delivery/auth/mask.js';
import { startTracing, tracesEndpoint } from '../observability/tracing.js';
import { limitHeapGrowth } from './heap-growth.js';
import { LogDestination } from './log-destination.js';
import { cliLogger } from './logger.js';

export interface StartFlags extends Flags {
  config?: string;
}

export async function start(flags: StartFlags): Promise<void> {
  limitHeapGrowth();
  const configPath = findConfigFile(flags.config);
  if (!configPath) {
    throw new ConfigError('no config: pass --config <file> or create confluo.config.ts (see examples/customer-sync/confluo.config.ts)');
  }
  const settings = resolveSettings(await loadConfigFile(configPath), process.env, flags);
  const destination = new LogDestination({
    onResumed: ({ dropped, code }) => log.warn({ dropped, code }, `the log could not be written for a while (${code}): ${dropped} lines were dropped`),
  });
  const log = await cliLogger({ level: settings.logLevel, destination });
  const looseModes = (what: string) => (report: ModeReport) => {
    if (report.tightened.length > 0) log.warn({ files: report.tightened }, `${what} files were readable by other users; they are 0600 now`);
    for (const dir of report.openDirs) log.warn({ dir }, `${dir} lets other users in (the files in it are 0600): chmod 700 it to hide their names too`);
  };
  const credentials = loadCredentials({ dataDir: settings.dataDir, apiKeys: settings.apiKeys, adminToken: settings.adminToken });
  looseModes('credentials')(credentials.modes);
  if (credentials.generated.includes('apiKey')) {
    destination.note(`\nGenerated an API key (kept in ${credentials.file}):\n  ${credentials.apiKeys[0]}\n`);
  }
  if (credentials.generated.includes('adminToken')) {
    destination.note(`Generated an admin token for the read API (kept in ${credentials.file}):\n  ${credentials.adminTokens[0]}\n\n`);
  }

  const processLeaseMs = settings.processor.leaseMs;
  const processId = newProcessId();
  const store = await openStore(settings.db, {
    owner: processId,
    ...(processLeaseMs !== undefined ? { processLeaseMs } : {}),
    onLooseModes: looseModes('database'),
    onCheckpointFailure: (error) => log.warn({ err: error }, 'the SQLite checkpoint thread failed; checkpoints run inside commits from now on'),
    log: log.child({ component: 'store' }),
  });
  const tracing = await startTracing();
  if (tracing) log.info({ endpoint: maskUrl(tracesEndpoint(process.env) as string) }, 'exporting OpenTelemetry spans over OTLP/HTTP');
  const hub = await createHub({ ...hubOptionsFrom(settings, { store, apiKeys: credentials.apiKeys, adminTokens: credentials.adminTokens, logger: log }), processId, tracing });
  const url = await hub.listen({ port: settings.port, host: settings.host });
  const roles = [...settings.roles].join(',');
  log.info({ url, store: store.driver, db: settings.db, config: configPath, roles, process: processId }, `Confluo listening on ${url} (${roles})`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing the batch in hand');
    hub.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}
