// The log-tail source driver: the complete lines appended to a log file since
// the checkpoint (file identity + byte offset), as parsed JSON objects or as
// text lines. It follows the file through rotation (renamed away, new file at
// the path: the rest of the old one is read first) and truncation
// (copytruncate: start again at 0), and never consumes a last line that has no
// newline yet. Each pull opens the file, reads from the offset with positioned
// reads and closes it again, so there is nothing to hold between pulls.
import type { BigIntStats } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../../errors/index.js';
import type { PullContext, PullPage, RejectedRaw, SourceDriver } from '../source-driver.js';
import { compileFilter, type LogLineFilter } from './log-tail-filter.js';
import { headOf, readHead, readLines, type RawLine } from './log-tail-lines.js';

export type { LogLineFilter } from './log-tail-filter.js';

/**
 * Which file a checkpoint is in: device and inode (as decimal strings: they can
 * pass 2^53), and the file's fingerprint, a hash of its first line (null until
 * that line is complete), which tells a rewritten file or a reused inode apart.
 */
export type LogFile = { dev: string; ino: string; head: string | null };

/** Plain JSON, stored as is. `file` is null until the log file has been seen. */
export type LogTailCheckpoint = { file: LogFile | null; offset: number };

/** An item in `text` format. `file` + `offset` identify the line for good: see `logLineId`. */
export interface LogLine {
  line: string;
  file: { dev: string; ino: string; head: string };
  /** Byte offset of the line's first byte in its file. */
  offset: number;
}

/** A stable id for a text line, e.g. for a source's `id` option. */
export const logLineId = (item: LogLine): string => `${item.file.dev}:${item.file.ino}:${item.file.head}:${item.offset}`;

export interface LogTailOptions {
  /** The log file; a relative path is resolved when the driver is made. It need not exist yet. */
  path: string;
  /**
   * `jsonl`: each line a JSON object, which is the item; other lines are rejected.
   * `text`: each line a `LogLine` item.
   * @defaultValue 'jsonl'
   */
  format?: 'jsonl' | 'text';
  /** Only the lines that pass become items; the others are skipped (the checkpoint still moves past them). */
  filter?: LogLineFilter;
  /** Items (and rejected lines) per page at most. @defaultValue 1000 */
  pageSize?: number;
  /**
   * Bytes a pull reads at most, skipped lines included, so a sparse filter over a big
   * file still answers in pages. Checked between lines: a page holds at least one line.
   * @defaultValue 4 MiB
   */
  pageBytes?: number;
  /** Longer lines are rejected (with an excerpt) instead of held in memory. @defaultValue 1 MiB */
  maxLineBytes?: number;
  /**
   * Where a rotated-away file is looked for: in `dir`, among the files whose name starts
   * with `match` (a string) or matches it (a RegExp).
   * @defaultValue the log file's directory, names starting with its name (`app.log.1`, `app.log-20250101`)
   */
  rotated?: { dir?: string; match?: string | RegExp };
  /** Bytes per positioned read; tests make it tiny to cut lines and characters across reads. @defaultValue 65536 */
  chunkBytes?: number;
}

type Item = LogLine | Record<string, unknown>;
const KIND = 'log-tail';
const EXCERPT_CHARS = 1024;

export function logTail(options: LogTailOptions & { format: 'text' }): SourceDriver<LogLine, LogTailCheckpoint>;
export function logTail(options: LogTailOptions & { format?: 'jsonl' }): SourceDriver<Record<string, unknown>, LogTailCheckpoint>;
export function logTail(options: LogTailOptions): SourceDriver<Item, LogTailCheckpoint>;
export function logTail(options: LogTailOptions): SourceDriver<Item, LogTailCheckpoint> {
  if (typeof options.path !== 'string' || options.path === '') throw new ConfigError(`${KIND}: path must be the log file's path`);
  const path = resolve(options.path);
  const where = `${KIND} "${path}"`;
  const format = options.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'text') throw new ConfigError(`${where}: format must be 'jsonl' or 'text', not ${JSON.stringify(format)}`);
  const count = (name: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value < 1) throw new ConfigError(`${where}: ${name} must be a whole number from 1, not ${String(value)}`);
    return value;
  };
  const pageSize = count('pageSize', options.pageSize, 1000);
  const pageBytes = count('pageBytes', options.pageBytes, 4 * 1024 * 1024);
  const maxLineBytes = count('maxLineBytes', options.maxLineBytes, 1024 * 1024);
  const chunkBytes = count('chunkBytes', options.chunkBytes, 64 * 1024);
  const filter = options.filter === undefined ? undefined : compileFilter(options.filter, format, where);
  const rotatedDir = resolve(options.rotated?.dir ?? dirname(path));
  const match = options.rotated?.match ?? basename(path);
  if (typeof match === 'string' ? match === '' : !(match instanceof RegExp)) throw new ConfigError(`${where}: rotated.match must be a non-empty name prefix or a RegExp`);
  const pattern = typeof match === 'string' ? undefined : new RegExp(match.source, match.flags.replace(/[gy]/g, ''));
  const isRotatedName = (name: string) => (pattern ? pattern.test(name) : name.startsWith(match as string));

  // Only an optimisation: where the checkpoint's file was found last time, tried before listing the directory.
  let lastRotated: string | undefined;
  let warnedMissing = false;

  /** The rotated-away file with this identity, if it can still be found. */
  async function findRotated(file: LogFile): Promise<{ path: string; stats: BigIntStats } | null> {
    const names = await readdir(rotatedDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    const candidates = names.filter((name) => isRotatedName(name) && join(rotatedDir, name) !== path).map((name) => join(rotatedDir, name));
    candidates.sort((a, b) => Number(b === lastRotated) - Number(a === lastRotated));
    for (const candidate of candidates) {
      const stats = await statOrNull(candidate);
      if (!stats?.isFile() || !sameInode(stats, file)) continue;
      if (file.head !== null && (await fingerprint(candidate)) !== file.head) continue;
      lastRotated = candidate;
      return { path: candidate, stats };
    }
    return null;
  }

  /** Where the pull reads: the file at the checkpoint, wherever it is now, or the one at the path from 0. */
  async function locate(checkpoint: LogTailCheckpoint, context: PullContext): Promise<Segment | null> {
    const current = await statOrNull(path);
    if (current && !current.isFile()) throw new Error(`${where}: the path is not a regular file`);
    if (current) warnedMissing = false;
    const fresh = (stats: BigIntStats): Segment => ({ path, file: identity(stats, null), offset: 0, next: null });
    const { file } = checkpoint;
    if (file === null) return current ? fresh(current) : missing(context);
    if (current && sameInode(current, file)) {
      const replaced = Number(current.size) < checkpoint.offset || (file.head !== null && (await fingerprint(path)) !== file.head);
      if (!replaced) return { path, file, offset: checkpoint.offset, next: null };
      context.log.warn({ source: context.source, path, offset: checkpoint.offset }, 'log file was truncated or rewritten: reading it again from the start');
      return fresh(current);
    }
    const rotated = await findRotated(file);
    if (rotated) return { path: rotated.path, file, offset: checkpoint.offset, next: current };
    if (!current) return missing(context);
    context.log.warn(
      { source: context.source, path, offset: checkpoint.offset, dir: rotatedDir },
      'log file was rotated and the previous file is gone: lines written to it after the checkpoint may be lost; reading the new file from the start',
    );
    return fresh(current);
  }

  function missing(context: PullContext): null {
    // Not an error: the log may not have been created yet, or is between a rename and its re-creation.
    if (!warnedMissing) context.log.warn({ source: context.source, path }, 'log file does not exist (yet): nothing to read');
    warnedMissing = true;
    return null;
  }

  /** Turns one line into an item, a rejection or nothing, and counts it against the page. */
  function take(raw: RawLine, file: { dev: string; ino: string; head: string }, page: PageBuilder): void {
    page.bytes += raw.end - raw.offset;
    if (raw.length > maxLineBytes) {
      page.rejected.push({ raw: `${decode(raw).slice(0, EXCERPT_CHARS)}…`, reason: `line of ${raw.length} bytes at offset ${raw.offset} is longer than maxLineBytes (${maxLineBytes})` });
      return;
    }
    const line = decode(raw);
    if (line.trim() === '') return;
    if (filter?.on === 'text' && !filter.test(line)) return;
    if (format === 'text') {
      if (filter?.on === 'function' && !filter.test(line)) return;
      page.items.push({ line, file, offset: raw.offset });
      return;
    }
    const parsed = parseObject(line);
    if (filter?.on === 'function' && !filter.test(line, parsed.value)) return;
    if (!parsed.object) {
      page.rejected.push({ raw: line, reason: parsed.reason });
      return;
    }
    if (filter?.on === 'field' && !filter.test(parsed.object)) return;
    page.items.push(parsed.object);
  }

  /** Reads one file from the segment's offset into the page; says where it stopped and whether lines were left. */
  async function readSegment(segment: Segment, page: PageBuilder, signal: AbortSignal, flushTail: () => boolean) {
    let handle: FileHandle;
    try {
      handle = await open(segment.path, 'r');
    } catch (error) {
      // Renamed or deleted between the stat and the open: the next pull looks for it again.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { file: segment.file, offset: segment.offset, linesLeft: true, tail: null };
      throw error;
    }
    try {
      let head = segment.file.head ?? (await readHead(handle));
      let offset = segment.offset;
      let linesLeft = false;
      let tail: RawLine | null = null;
      for await (const raw of readLines(handle, segment.offset, { chunkBytes, maxLineBytes, signal })) {
        if (!raw.complete) {
          // The writer has not finished it: left for a later pull, unless the file was rotated away for good.
          if (flushTail()) {
            // A lone first line without a newline: its bytes are all the fingerprint there is.
            head ??= (await readHead(handle)) ?? headOf(raw.bytes);
            take(raw, { dev: segment.file.dev, ino: segment.file.ino, head }, page);
            offset = raw.end;
          } else {
            tail = raw;
          }
          break;
        }
        if (page.full()) {
          linesLeft = true;
          break;
        }
        // The file grew since the fingerprint was read: its first line is complete now.
        head ??= (await readHead(handle)) ?? headOf(raw.bytes);
        take(raw, { dev: segment.file.dev, ino: segment.file.ino, head }, page);
        offset = raw.end;
      }
      return { file: { ...segment.file, head: offset > 0 ? head : null }, offset, linesLeft, tail };
    } finally {
      await handle.close();
    }
  }

  return {
    kind: KIND,
    async pull(checkpoint: LogTailCheckpoint | null, context: PullContext): Promise<PullPage<Item, LogTailCheckpoint>> {
      const page = new PageBuilder(pageSize, pageBytes);
      let at: LogTailCheckpoint = checkpoint ?? { file: null, offset: 0 };
      // The rest of a rotated-away file, then (same page) the file now at the path.
      for (let hop = 0; ; hop += 1) {
        const segment = await locate(at, context);
        if (!segment) return page.done(at, false);
        const { next } = segment;
        // The writer has moved on once the new file has content (until then it may still write to the
        // old one through its open descriptor): the old file is finished, its unterminated last line final.
        const movedOn = next !== null && next.size > 0n;
        const read = await readSegment(segment, page, context.signal, () => movedOn && !page.full());
        at = { file: read.file, offset: read.offset };
        if (read.linesLeft) return page.done(at, true);
        if (next === null || !movedOn) return page.done(at, false);
        if (read.tail) return page.done(at, true);
        context.log.info({ source: context.source, path, rotated: segment.path }, 'finished the rotated log file: going on with the new one');
        at = { file: identity(next, null), offset: 0 };
        if (hop > 0 || page.full()) return page.done(at, true);
      }
    },
  };
}

interface Segment {
  /** Where the file is now: the log path, or a rotated name. */
  path: string;
  file: LogFile;
  offset: number;
  /** When the file was rotated away: the file at the log path now, to go on with (null: none, or not rotated). */
  next: BigIntStats | null;
}

class PageBuilder {
  readonly items: Item[] = [];
  readonly rejected: RejectedRaw[] = [];
  bytes = 0;
  constructor(
    private readonly pageSize: number,
    private readonly pageBytes: number,
  ) {}

  full(): boolean {
    return this.items.length + this.rejected.length >= this.pageSize || this.bytes >= this.pageBytes;
  }

  done(checkpoint: LogTailCheckpoint, more: boolean): PullPage<Item, LogTailCheckpoint> {
    return { items: this.items, checkpoint, more, ...(this.rejected.length > 0 ? { rejected: this.rejected } : {}) };
  }
}

function decode(raw: RawLine): string {
  let text = raw.bytes.toString('utf8');
  if (raw.offset === 0 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}

function parseObject(line: string): { object?: Record<string, unknown>; value?: unknown; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { reason: `not valid JSON: ${(error as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { value, reason: `a JSON line must be an object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}` };
  }
  return { object: value as Record<string, unknown>, value, reason: '' };
}

async function statOrNull(path: string): Promise<BigIntStats | null> {
  try {
    return await stat(path, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

async function fingerprint(path: string): Promise<string | null> {
  const handle = await open(path, 'r');
  try {
    return await readHead(handle);
  } finally {
    await handle.close();
  }
}

const identity = (stats: BigIntStats, head: string | null): LogFile => ({ dev: String(stats.dev), ino: String(stats.ino), head });
const sameInode = (stats: BigIntStats, file: LogFile) => String(stats.dev) === file.dev && String(stats.ino) === file.ino;
