// Scheduled sources over HTTP: their state, a run by hand (answered with that
// run's summary) and the items they rejected. Mounted behind the scope check.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SourceBusyError, UnknownSourceError, type SourceRunner } from '../sources/source-runner.js';
import type { Source } from '../sources/source.js';
import { showableCheckpoint } from '../sources/source-driver.js';
import type { SourceRow, SourceRun } from '../store/source-types.js';
import type { Store } from '../store/store.js';
import { describeIssues } from '../validation/field-issues.js';
import { ConfluoError } from '../errors/index.js';
import { sendError } from './api-error.js';
import { iso } from './iso.js';

export interface SourceApiOptions {
  store: Pick<Store, 'sources'>;
  runner: SourceRunner;
  clock?: () => number;
}

export const runBody = (r: SourceRun) => ({
  runId: r.runId,
  trigger: r.trigger,
  status: r.status,
  startedAt: iso(r.startedAt),
  finishedAt: iso(r.finishedAt),
  pages: r.pages,
  items: r.items,
  accepted: r.accepted,
  duplicates: r.duplicates,
  rejected: r.rejected,
  skipped: r.skipped,
  error: r.error,
});

/** What a source is doing now, in one word. */
export function sourceState(row: SourceRow, disabled: string | false, now: number): 'off' | 'running' | 'failing' | 'scheduled' | 'idle' {
  if (disabled !== false) return 'off';
  if (row.leaseUntil !== null && row.leaseUntil >= now) return 'running';
  if (row.consecutiveFailures > 0) return 'failing';
  return row.nextRunAt === null ? 'idle' : 'scheduled';
}

export const sourceBody = (row: SourceRow, source: Source, now: number) => sourceBodyOf(row, source.disabled, source.driver.secrets?.() ?? [], now);

const sourceBodyOf = (row: SourceRow, disabled: string | false, secrets: readonly string[], now: number) => ({
  name: row.name,
  kind: row.kind,
  schedule: row.schedule,
  state: sourceState(row, disabled, now),
  ...(disabled !== false ? { offBecause: disabled } : {}),
  lastRun: row.lastRun ? runBody(row.lastRun) : null,
  consecutiveFailures: row.consecutiveFailures,
  checkpoint: showableCheckpoint(row.checkpoint, secrets),
  checkpointAt: iso(row.checkpointAt),
  nextRunAt: disabled !== false ? null : iso(row.nextRunAt),
});

const rejectedQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.coerce.number().int().min(0).optional(),
});

export async function sourceApiRoutes(api: FastifyInstance, options: SourceApiOptions): Promise<void> {
  const { store, runner } = options;
  const clock = options.clock ?? Date.now;
  const configured = (name: string) => runner.sources.get(name);

  api.get('/api/v1/sources', async () => {
    const now = clock();
    const rows = await store.sources.listSources();
    const sources = rows.flatMap((row) => {
      const source = configured(row.name);
      return source ? [sourceBody(row, source, now)] : [];
    });
    return { sources };
  });

  api.get<{ Params: { name: string } }>('/api/v1/sources/:name', async (request, reply) => {
    const source = configured(request.params.name);
    const row = source && (await store.sources.getSource(source.name));
    if (!source || !row) return sendError(reply, 404, 'NOT_FOUND', `no source is named "${request.params.name}"`);
    const runs = await store.sources.listSourceRuns(source.name, 20);
    return { ...sourceBody(row, source, clock()), runs: runs.map(runBody) };
  });

  api.post<{ Params: { name: string } }>('/api/v1/sources/:name/run', { config: { action: 'source.run' } }, async (request, reply) => {
    try {
      const run = await runner.runNow(request.params.name);
      return runBody(run);
    } catch (error) {
      if (error instanceof UnknownSourceError) return sendError(reply, 404, 'NOT_FOUND', error.message);
      if (error instanceof SourceBusyError) return sendError(reply, 409, error.code, error.message);
      if (error instanceof ConfluoError && error.code === 'SOURCE_OFF') return sendError(reply, 409, error.code, error.message);
      throw error;
    }
  });

  api.get<{ Params: { name: string } }>('/api/v1/sources/:name/rejected', async (request, reply) => {
    if (!configured(request.params.name)) return sendError(reply, 404, 'NOT_FOUND', `no source is named "${request.params.name}"`);
    const query = rejectedQuery.safeParse(request.query);
    if (!query.success) return sendError(reply, 400, 'INVALID_QUERY', 'invalid query', { fields: describeIssues(query.error.issues) });
    const items = await store.sources.listRejected(request.params.name, { limit: query.data.limit, ...(query.data.cursor !== undefined ? { after: query.data.cursor } : {}) });
    const last = items.at(-1);
    return {
      items: items.map((r) => ({ id: r.id, runId: r.runId, itemId: r.itemId, reason: r.reason, raw: r.raw, at: iso(r.at) })),
      nextCursor: items.length === query.data.limit && last ? last.id : null,
    };
  });
}
