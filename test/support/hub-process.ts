// A real hub in a child process, for tests that must kill it: the confluo CLI
// with the customer-sync example (or another config) on a given SQLite file, leading its own
// process group so SIGKILL also takes tsx's esbuild helper. Every child a test
// file starts is tracked, so `killAllHubs()` in afterEach leaves none behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export interface HubProcess {
  process: ChildProcess;
  url: string;
  exited: Promise<Exit>;
  output: () => string;
}

const children = new Set<ChildProcess>();

/** Kills the child and everything it started: it leads its own process group. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

export interface HubProcessOptions {
  /** The SQLite file; ignored when `db` is given. */
  dbPath?: string;
  /** Any database URL, e.g. a PostgreSQL one. */
  db?: string;
  env: NodeJS.ProcessEnv;
  drop?: string[];
  config?: string;
  /** `--role`, e.g. `process` or `ingest,deliver`. @defaultValue all */
  role?: string;
  /** A file descriptor for the child's stdout (e.g. /dev/full) instead of a pipe; give a `port` then. */
  stdout?: number;
  /** A file descriptor for the child's stderr instead of a pipe. */
  stderr?: number;
  /**
   * With a port, the hub is known to listen when `GET /healthz` answers there, whatever its log
   * says (or whether it can write one). @defaultValue 0 (any free port, read from the log)
   */
  port?: number;
}

/** A port free right now, for a child whose log cannot say which port it took. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function answersHealth(url: string): Promise<boolean> {
  try {
    const response = await request(`${url}/healthz`);
    await response.body.dump();
    return response.statusCode === 200;
  } catch {
    return false;
  }
}

export async function startHubProcess(options: HubProcessOptions): Promise<HubProcess> {
  const db = options.db ?? (options.dbPath ? `sqlite:${options.dbPath}` : undefined);
  if (!db) throw new Error('startHubProcess needs dbPath or db');
  const env: NodeJS.ProcessEnv = { ...process.env, CONFLUO_LOG_LEVEL: 'info', CONFLUO_HOST: '127.0.0.1', ...options.env };
  for (const name of options.drop ?? []) delete env[name];
  const child = spawn(process.execPath, ['bin/confluo.mjs', 'start', '--config', options.config ?? 'examples/customer-sync/confluo.config.ts', '--port', String(options.port ?? 0), '--db', db, ...(options.role ? ['--role', options.role] : [])], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', options.stdout ?? 'pipe', options.stderr ?? 'pipe'],
    env,
  });
  children.add(child);
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start within 15 s\nstdout:\n${stdout}\nstderr:\n${stderr}`)), 15_000);
    if (options.port) {
      const url = `http://127.0.0.1:${options.port}`;
      const poll = async () => {
        while (child.exitCode === null && child.signalCode === null) {
          if (await answersHealth(url)) {
            clearTimeout(timer);
            return resolve(url);
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      void poll();
    }
    if (child.stdout) {
      let pending = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        pending += chunk;
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          try {
            const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
            if (typeof entry.msg === 'string' && entry.msg.startsWith('Confluo listening on') && typeof entry.url === 'string') {
              clearTimeout(timer);
              resolve(entry.url);
            }
          } catch {
            // not a log line
          }
        }
      });
    }
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`hub exited (code ${code}, signal ${signal}) before listening\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    });
  });
  return { process: child, url, exited, output: () => `stdout:\n${stdout}\nstderr:\n${stderr}` };
}

/** SIGTERM, then SIGKILL after `timeoutMs`; resolves with how it exited. */
export async function stopHub(hub: HubProcess, timeoutMs = 5_000): Promise<Exit> {
  killGroup(hub.process, 'SIGTERM');
  const timer = setTimeout(() => killGroup(hub.process, 'SIGKILL'), timeoutMs);
  try {
    return await hub.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** SIGKILLs every hub still running and waits (up to 5 s) for them to go. */
export async function killAllHubs(): Promise<void> {
  const waits = [...children].map(
    (child) =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        if (child.exitCode !== null || child.signalCode !== null) resolve(undefined);
        killGroup(child, 'SIGKILL');
      }),
  );
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 5_000))]);
}
