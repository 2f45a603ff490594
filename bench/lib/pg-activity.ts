// Where the time goes in a PostgreSQL run: the server's own counters for one
// database (commits, rows written and read, WAL records, bytes and syncs)
// and the CPU time of the hub's processes, of every PostgreSQL process and of this
// process (the load generator and receiver), read before and after a
// measurement and given per event.
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { CLOCK_TICKS_PER_SECOND, cpuSecondsOf } from './child.js';

interface Counters {
  commits: number;
  written: number;
  read: number;
  walRecords: number;
  walBytes: number;
  walSyncs: number;
  hubCpu: number;
  postgresCpu: number;
  benchCpu: number;
  /** Whole-machine CPU seconds not idle, and all of them (from /proc/stat). */
  busy: number;
  total: number;
}

export type ActivityPerEvent = Record<Exclude<keyof Counters, 'busy' | 'total'>, number> & { machineBusy: number };

/** CPU seconds of every process whose command is `postgres` (the server and its backends). */
function postgresCpu(): number {
  let seconds = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') seconds += cpuSecondsOf(Number(pid));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return seconds;
}

function machine(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0) / CLOCK_TICKS_PER_SECOND;
  const idle = ((fields[3] ?? 0) + (fields[4] ?? 0)) / CLOCK_TICKS_PER_SECOND;
  return { busy: total - idle, total };
}

async function read(client: pg.Client, database: string, hubPids: readonly number[]): Promise<Counters> {
  const { rows } = await client.query<Record<string, string>>(
    `SELECT d.xact_commit AS commits, d.tup_inserted + d.tup_updated + d.tup_deleted AS written, d.tup_returned + d.tup_fetched AS read,
            w.wal_records, w.wal_bytes, w.wal_sync
       FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = $1`,
    [database],
  );
  const row = rows[0] ?? {};
  const usage = process.cpuUsage();
  return {
    commits: Number(row.commits),
    written: Number(row.written),
    read: Number(row.read),
    walRecords: Number(row.wal_records),
    walBytes: Number(row.wal_bytes),
    walSyncs: Number(row.wal_sync),
    hubCpu: hubPids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0),
    postgresCpu: postgresCpu(),
    benchCpu: (usage.user + usage.system) / 1e6,
    ...machine(),
  };
}

/**
 * Starts watching a database and the hub processes `hubPids` (their CPU is summed): `stop(events)`
 * answers the activity since, per event. The server
 * publishes its statistics at most every half second, so stop waits that long before reading.
 */
export async function watchActivity(url: string, hubPids: readonly number[]): Promise<{ stop(events: number): Promise<ActivityPerEvent> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const database = new URL(url).pathname.slice(1);
  await client.query('SELECT pg_stat_clear_snapshot()');
  const before = await read(client, database, hubPids);
  return {
    async stop(events) {
      try {
        await new Promise((resolve) => setTimeout(resolve, 600));
        await client.query('SELECT pg_stat_clear_snapshot()');
        const after = await read(client, database, hubPids);
        const per = (key: keyof Counters, scale = 1) => ((after[key] - before[key]) * scale) / events;
        return {
          commits: per('commits'),
          written: per('written'),
          read: per('read'),
          walRecords: per('walRecords'),
          walBytes: per('walBytes'),
          walSyncs: per('walSyncs'),
          hubCpu: per('hubCpu', 1e6),
          postgresCpu: per('postgresCpu', 1e6),
          benchCpu: per('benchCpu', 1e6),
          machineBusy: (after.busy - before.busy) / (after.total - before.total),
        };
      } finally {
        await client.end();
      }
    },
  };
}
