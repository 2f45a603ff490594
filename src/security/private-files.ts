// Files that hold customer records or secrets are their owner's alone: the
// folders Confluo makes are 0700 and its files 0600, whatever the umask (modes
// given to mkdir and open pass through it, so they are set again with chmod).
import { chmodSync, closeSync, existsSync, fchmodSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** What opening found: both lists are empty when every mode was already private. */
export interface ModeReport {
  /** Existing files that others could read, now 0600. */
  tightened: string[];
  /**
   * Existing folders others can enter, left as they are: one may be shared (a project folder
   * holding `sqlite:./confluo.db`); the files in it are private either way.
   */
  openDirs: string[];
}

const shared = (mode: number) => (mode & 0o077) !== 0;

/** Makes `dir` and its missing parents, each 0700; reports it if it existed and others can enter it. */
export function makePrivateDir(dir: string, report: ModeReport): void {
  const absolute = resolve(dir);
  const first = mkdirSync(absolute, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first === undefined) {
    if (shared(statSync(absolute).mode)) report.openDirs.push(absolute);
    return;
  }
  // mkdir returned the topmost folder it made; every folder from there down to `dir` is new.
  for (let path = absolute; ; path = dirname(path)) {
    chmodSync(path, PRIVATE_DIR_MODE);
    if (path === first) break;
  }
}

/** Creates `path` empty and 0600 if it is missing; tightens it to 0600 (and reports it) if others can read it. */
export function makePrivateFile(path: string, report: ModeReport): void {
  if (existsSync(path)) {
    tightenFile(path, report);
    return;
  }
  const fd = openSync(path, 'a', PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

/** Tightens `path` to 0600 if it exists and others can read it. */
export function tightenFile(path: string, report: ModeReport): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!shared(mode)) return;
  chmodSync(path, PRIVATE_FILE_MODE);
  report.tightened.push(path);
}

export const emptyReport = (): ModeReport => ({ tightened: [], openDirs: [] });
