// Runs a server under test in its own process, so the load generator in this
// process does not share its event loop: the hub (the confluo CLI) or a
// baseline script. Resolves once the child prints the URL it listens on.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Child {
  process: ChildProcess;
  url: string;
  /** Peak and current resident set size of the child, in MiB (from /proc). */
  memory(): { rssMiB: number; peakMiB: number };
  /** CPU time the child has used so far, every thread counted, in seconds (from /proc). */
  cpuSeconds(): number;
  /** Calls `listener` with every stdout line printed after the child started listening. */
  onLine(listener: (line: string) => void): void;
  stop(): Promise<void>;
}

/**
 * Node flags for every child, servers under test and baselines alike: the young generation
 * the README recommends for a hub (`npm start` runs it so), which `npm run bench` gives the
 * in-process scenarios too.
 */
export const NODE_FLAGS = ['--max-semi-space-size=32'];

/** Current and peak resident set size of a process, in MiB (Linux: from /proc). */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
}

/** What /proc counts CPU time in (`getconf CLK_TCK`: 100 on Linux). */
export const CLOCK_TICKS_PER_SECOND = 100;

/** User plus system CPU time of a process and all its threads, in seconds (Linux: /proc, in clock ticks). */
export function cpuSecondsOf(pid: number): number {
  // The fields after the command name (which may hold spaces) start at the state, field 3: utime and stime are fields 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

export function startChild(args: string[], env: NodeJS.ProcessEnv = {}, marker = /"url":"(http:\/\/[^"]+)"|LISTENING (http:\/\/\S+)/): Promise<Child> {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...args], { cwd: ROOT, env: { ...process.env, CONFLUO_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = marker.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      const listeners: Array<(line: string) => void> = [];
      let pending = '';
      child.stdout?.on('data', (data: Buffer) => {
        pending += data;
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          for (const listener of listeners) listener(line);
        }
      });
      child.stderr?.resume();
      resolve({
        onLine: (listener) => void listeners.push(listener),
        process: child,
        url: (match[1] ?? match[2]) as string,
        memory: () => memoryOf(child.pid as number),
        cpuSeconds: () => cpuSecondsOf(child.pid as number),
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
          }),
      });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk));
    child.once('exit', (code) => reject(new Error(`child exited with ${code}: ${output}`)));
  });
}

export interface HubChildOptions {
  dbPath: string;
  env?: NodeJS.ProcessEnv;
  /** Extra node flags, e.g. `--cpu-prof` to profile the hub under load. */
  nodeArgs?: string[];
}

export const API_KEY = 'bench-api-key-0123456789';
export const ADMIN_TOKEN = 'bench-admin-token-0123456789';

/** The customer-sync example as `npm start` runs it, on a given database file. */
export function startHub(options: HubChildOptions): Promise<Child> {
  return startChild([...(options.nodeArgs ?? []), 'bin/confluo.mjs', 'start', '--config', 'examples/customer-sync/confluo.config.ts', '--port', '0', '--db', `sqlite:${options.dbPath}`], {
    CONFLUO_API_KEYS: API_KEY,
    CONFLUO_ADMIN_TOKEN: ADMIN_TOKEN,
    CONFLUO_LOG_LEVEL: 'info',
    SLACK_WEBHOOK_URL: '',
    ...options.env,
  });
}
