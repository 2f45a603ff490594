// Moves WAL checkpoints off the event loop. SQLite's automatic checkpoint runs
// inside the commit that crosses its threshold (1,000 pages by default): that
// commit then copies the pages back into the database file and fsyncs it, and
// better-sqlite3 being synchronous, the whole process waits. A checkpoint
// thread does that work beside it (checkpoint-worker.mjs); the connection keeps
// a much higher threshold as a backstop, so the WAL stays bounded if the thread
// falls behind or stops.
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** WAL pages after which the connection checkpoints itself when the thread has not (about 16 MiB). */
export const BACKSTOP_PAGES = 4000;
/** SQLite's own default threshold, restored if the thread fails. */
const DEFAULT_PAGES = 1000;

export interface CheckpointerOptions {
  /** How often the thread checkpoints. @defaultValue 50 */
  intervalMs?: number;
  /** Told once if the thread fails; checkpoints then run in the connection's commits again. */
  onFailure?: (error: Error) => void;
  /** The thread's script (tests point it at one that fails). @defaultValue checkpoint-worker.mjs */
  script?: URL;
}

export class Checkpointer {
  readonly #worker: Worker;
  readonly #db: Database.Database;
  readonly #exited: Promise<void>;
  #failed = false;

  constructor(db: Database.Database, path: string, options: CheckpointerOptions = {}) {
    this.#db = db;
    db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    this.#worker = new Worker(options.script ?? new URL('./checkpoint-worker.mjs', import.meta.url), { workerData: { path, intervalMs: options.intervalMs ?? 50 } });
    const fail = (error: Error) => {
      if (this.#failed) return;
      this.#failed = true;
      if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
      // The connection checkpoints from now on: the thread, if it still runs, stops.
      this.#worker.postMessage('stop');
      options.onFailure?.(error);
    };
    this.#worker.on('error', fail);
    this.#worker.on('message', (message: { kind: string; message: string }) => {
      if (message.kind === 'error') fail(new Error(`WAL checkpoint thread: ${message.message}`));
    });
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    // A store left open must not keep the process alive for its checkpoints' sake (after the
    // listeners: adding a message listener refs the worker again).
    this.#worker.unref();
  }

  /** True until the thread fails; afterwards the connection checkpoints on its own. */
  get running(): boolean {
    return !this.#failed;
  }

  /** Stops the thread once its checkpoint in progress is done and its connection is closed. */
  async stop(): Promise<void> {
    this.#failed = true;
    this.#worker.postMessage('stop');
    const timeout = setTimeout(() => void this.#worker.terminate(), 5000);
    await this.#exited;
    clearTimeout(timeout);
  }
}
