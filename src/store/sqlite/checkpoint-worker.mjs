// Checkpoints the hub's SQLite WAL on a thread of its own, so the event loop
// never copies pages back into the database file or waits for its fsync.
// Plain JavaScript: a worker thread does not inherit the tsx loader.
//
// PASSIVE checkpoints never wait for, nor block, the hub's connection: they
// copy what they can and return. The hub keeps a high automatic-checkpoint
// threshold as a backstop, so its WAL stays bounded even if this thread stops.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** @type {{ path: string, intervalMs: number }} */
const { path, intervalMs } = workerData;
const db = new Database(path, { fileMustExist: true });

function checkpoint() {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    // SQLITE_BUSY and the like: the next tick tries again; the hub's backstop covers a lasting failure.
    parentPort?.postMessage({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
  }
}

const timer = setInterval(checkpoint, intervalMs);

parentPort?.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
