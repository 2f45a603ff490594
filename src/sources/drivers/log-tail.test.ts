// The log-tail driver runs the shared driver suite over a real JSON-lines file;
// below it, what tailing a real log adds: appends while reading, rotation
// (with and without the old file), copytruncate, unfinished last lines, CRLF,
// UTF-8 cut by reads, filters, bad lines, a file that does not exist yet, and
// a big file read in bounded pages.
import { appendFileSync, closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors/index.js';
import type { Json } from '../../store/types.js';
import { describeSourceDriverContract } from '../source-driver.contract.js';
import type { PullContext, RejectedRaw, SourceDriver } from '../source-driver.js';
import { logLineId, logTail, type LogLine, type LogTailCheckpoint, type LogTailOptions } from './log-tail.js';

const jsonLines = (ids: string[]) => ids.map((id) => `${JSON.stringify({ id })}\n`).join('');

describeSourceDriverContract('log-tail', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'confluo-log-tail-contract-'));
  const path = join(dir, 'app.log');
  const make = (): SourceDriver<unknown, Json> => logTail({ path, pageSize: 7 });
  let next = 0;
  return {
    driver: make(),
    pageSize: 7,
    async append(count) {
      const ids = Array.from({ length: count }, () => `e${++next}`);
      appendFileSync(path, jsonLines(ids));
      return ids;
    },
    idOf: (item) => (item as { id: string }).id,
    reopen: async () => make(),
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

/** A real pino logger whose lines are kept, to see the driver's warnings. */
function capture(): { context: PullContext; logs: { level: number; msg: string }[] } {
  const logs: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { level: number; msg: string }) });
  return { context: { source: 'app-log', signal: new AbortController().signal, log }, logs };
}
const warnings = (logs: { level: number; msg: string }[]) => logs.filter((entry) => entry.level === 40).map((entry) => entry.msg);

const stored = (checkpoint: LogTailCheckpoint): LogTailCheckpoint => JSON.parse(JSON.stringify(checkpoint)) as LogTailCheckpoint;

async function drain<Item>(driver: SourceDriver<Item, LogTailCheckpoint>, from: LogTailCheckpoint | null, context = capture().context) {
  const items: Item[] = [];
  const rejected: RejectedRaw[] = [];
  const checkpoints: LogTailCheckpoint[] = [];
  let checkpoint = from;
  for (let pulls = 1; ; pulls += 1) {
    const page = await driver.pull(checkpoint, context);
    items.push(...page.items);
    rejected.push(...(page.rejected ?? []));
    checkpoint = stored(page.checkpoint);
    checkpoints.push(checkpoint);
    if (!page.more) return { items, rejected, checkpoint, checkpoints, pulls };
    if (pulls > 100_000) throw new Error('driver kept answering more: true');
  }
}
const ids = (items: Record<string, unknown>[]) => items.map((item) => item.id);

describe('logTail', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'confluo-log-tail-'));
    path = join(dir, 'app.log');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads what is appended between pulls and while paging, each line once', async () => {
    const driver = logTail({ path, pageSize: 4 });
    appendFileSync(path, jsonLines(['a1', 'a2', 'a3', 'a4', 'a5', 'a6']));
    const first = await driver.pull(null, capture().context);
    expect(ids(first.items)).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect(first.more).toBe(true);
    appendFileSync(path, jsonLines(['a7', 'a8']));
    const rest = await drain(driver, stored(first.checkpoint));
    expect(ids(rest.items)).toEqual(['a5', 'a6', 'a7', 'a8']);
    expect(rest.checkpoint.offset).toBe(statSync(path).size);
    appendFileSync(path, jsonLines(['a9']));
    expect(ids((await drain(driver, rest.checkpoint)).items)).toEqual(['a9']);
  });

  it('checkpoints the file identity (dev, ino as strings), a fingerprint and the offset after the last whole line', async () => {
    appendFileSync(path, jsonLines(['a1']));
    const { checkpoint } = await drain(logTail({ path }), null);
    const stats = statSync(path, { bigint: true });
    expect(checkpoint).toEqual({ file: { dev: String(stats.dev), ino: String(stats.ino), head: expect.any(String) }, offset: Number(stats.size) });
  });

  describe('rotation', () => {
    it('finishes the renamed file, including lines the writer added after the last pull, then reads the new file', async () => {
      const driver = logTail({ path, pageSize: 3 });
      const writer = openSync(path, 'a');
      writeSync(writer, jsonLines(['a1', 'a2']));
      const before = await drain(driver, null);
      expect(ids(before.items)).toEqual(['a1', 'a2']);
      // Written after the last pull, then the file is rotated; the writer still holds the old descriptor.
      writeSync(writer, jsonLines(['a3', 'a4']));
      renameSync(path, `${path}.1`);
      writeSync(writer, jsonLines(['a5']));
      writeFileSync(path, ''); // logrotate `create`: the new file exists, still empty
      const old = await drain(driver, before.checkpoint);
      expect(ids(old.items)).toEqual(['a3', 'a4', 'a5']);
      // Nothing in the new file yet: the writer may still use the old one, so the checkpoint stays there.
      writeSync(writer, jsonLines(['a6']));
      const late = await drain(driver, old.checkpoint);
      expect(ids(late.items)).toEqual(['a6']);
      closeSync(writer);
      appendFileSync(path, jsonLines(['b1', 'b2', 'b3', 'b4']));
      const after = await drain(driver, late.checkpoint);
      expect(ids(after.items)).toEqual(['b1', 'b2', 'b3', 'b4']);
      expect(after.checkpoint.file?.ino).toBe(String(statSync(path, { bigint: true }).ino));
      expect(ids((await drain(driver, after.checkpoint)).items)).toEqual([]);
    });

    it('goes from the rest of the old file to the new one in the same page, and the same checkpoint gives the same page', async () => {
      const driver = logTail({ path, pageSize: 10 });
      appendFileSync(path, jsonLines(['a1']));
      const before = await drain(driver, null);
      appendFileSync(path, jsonLines(['a2', 'a3']));
      renameSync(path, `${path}.1`);
      appendFileSync(path, jsonLines(['b1', 'b2']));
      const { context, logs } = capture();
      const page = await driver.pull(before.checkpoint, context);
      expect(ids(page.items)).toEqual(['a2', 'a3', 'b1', 'b2']);
      expect(page.more).toBe(false);
      expect(warnings(logs)).toEqual([]);
      expect(ids((await driver.pull(before.checkpoint, context)).items)).toEqual(['a2', 'a3', 'b1', 'b2']);
    });

    it('once the new file has lines, takes the old file’s unterminated last line as final', async () => {
      const driver = logTail({ path });
      appendFileSync(path, jsonLines(['a1']));
      const before = await drain(driver, null);
      appendFileSync(path, '{"id":"a2"}');
      renameSync(path, `${path}.1`);
      const waiting = await drain(driver, before.checkpoint);
      expect(ids(waiting.items)).toEqual([]);
      appendFileSync(path, jsonLines(['b1']));
      expect(ids((await drain(driver, waiting.checkpoint)).items)).toEqual(['a2', 'b1']);
    });

    it('reads the rest of the old file when the log path does not exist again yet', async () => {
      const driver = logTail({ path });
      appendFileSync(path, jsonLines(['a1']));
      const before = await drain(driver, null);
      appendFileSync(path, jsonLines(['a2']));
      renameSync(path, `${path}.1`);
      const old = await drain(driver, before.checkpoint);
      expect(ids(old.items)).toEqual(['a2']);
      appendFileSync(path, jsonLines(['b1']));
      expect(ids((await drain(driver, old.checkpoint)).items)).toEqual(['b1']);
    });

    it('finds the rotated file in another directory with the rotated option', async () => {
      const archive = join(dir, 'archive');
      mkdirSync(archive);
      const driver = logTail({ path, rotated: { dir: archive, match: /^app-\d+\.log$/ } });
      appendFileSync(path, jsonLines(['a1']));
      const before = await drain(driver, null);
      appendFileSync(path, jsonLines(['a2']));
      writeFileSync(join(archive, 'other.log'), jsonLines(['x']));
      renameSync(path, join(archive, 'app-1.log'));
      appendFileSync(path, jsonLines(['b1']));
      const { context, logs } = capture();
      expect(ids((await drain(driver, before.checkpoint, context)).items)).toEqual(['a2', 'b1']);
      expect(warnings(logs)).toEqual([]);
    });

    it('starts the new file at 0 with a warning when the old file is gone', async () => {
      const driver = logTail({ path });
      appendFileSync(path, jsonLines(['a1', 'a2']));
      const before = await drain(driver, null);
      appendFileSync(path, jsonLines(['lost']));
      unlinkSync(path);
      // The new file may even get the old inode back: its fingerprint tells it apart.
      appendFileSync(path, jsonLines(['b1', 'b2', 'b3', 'b4', 'b5']));
      const { context, logs } = capture();
      const after = await drain(driver, before.checkpoint, context);
      expect(ids(after.items)).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
      expect(warnings(logs)).toHaveLength(1);
      expect(warnings(logs)[0]).toMatch(/rotated and the previous file is gone|truncated or rewritten/);
    });

    it('does not take a rotated file with the same name pattern but another identity for the old one', async () => {
      const driver = logTail({ path });
      appendFileSync(path, jsonLines(['a1']));
      const before = await drain(driver, null);
      unlinkSync(path);
      writeFileSync(`${path}.1`, jsonLines(['not-ours']));
      writeFileSync(path, jsonLines(['b1']));
      const { context, logs } = capture();
      expect(ids((await drain(driver, before.checkpoint, context)).items)).toEqual(['b1']);
      expect(warnings(logs)).toHaveLength(1);
    });
  });

  describe('truncation', () => {
    it('starts again at 0 with a warning when copytruncate left the file shorter than the checkpoint', async () => {
      const driver = logTail({ path });
      appendFileSync(path, jsonLines(['a1', 'a2', 'a3']));
      const before = await drain(driver, null);
      copyFileSync(path, `${path}.1`);
      truncateSync(path, 0);
      appendFileSync(path, jsonLines(['b1']));
      const { context, logs } = capture();
      const after = await drain(driver, before.checkpoint, context);
      expect(ids(after.items)).toEqual(['b1']);
      expect(warnings(logs)).toEqual(['log file was truncated or rewritten: reading it again from the start']);
    });

    it('sees a truncation even when the file has grown past the checkpoint again (its first line changed)', async () => {
      const driver = logTail({ path });
      appendFileSync(path, jsonLines(['a1', 'a2']));
      const before = await drain(driver, null);
      truncateSync(path, 0);
      const fresh = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6'];
      appendFileSync(path, jsonLines(fresh));
      expect(statSync(path).size).toBeGreaterThan(before.checkpoint.offset);
      expect(ids((await drain(driver, before.checkpoint)).items)).toEqual(fresh);
    });
  });

  it('never consumes an unterminated last line: it is read whole once its newline arrives', async () => {
    const driver = logTail({ path, chunkBytes: 5 });
    appendFileSync(path, '{"id":"p1"}\n{"id":"p2"');
    const first = await drain(driver, null);
    expect(ids(first.items)).toEqual(['p1']);
    expect(first.checkpoint.offset).toBe('{"id":"p1"}\n'.length);
    expect(first.rejected).toEqual([]);
    expect((await drain(driver, first.checkpoint)).items).toEqual([]);
    appendFileSync(path, ',"n":2}\n');
    expect((await drain(driver, first.checkpoint)).items).toEqual([{ id: 'p2', n: 2 }]);
  });

  it('says more only when a whole line is waiting, not for an unterminated one', async () => {
    const driver = logTail({ path, pageSize: 2 });
    appendFileSync(path, `${jsonLines(['a1', 'a2'])}{"id":"a3"`);
    const page = await driver.pull(null, capture().context);
    expect(ids(page.items)).toEqual(['a1', 'a2']);
    expect(page.more).toBe(false);
  });

  it('reads CRLF lines without the carriage return, and skips empty lines', async () => {
    writeFileSync(path, 'first\r\n\r\n  \nsecond line\r\n\nthird\n');
    const { items } = await drain(logTail({ path, format: 'text' }), null);
    expect(items.map((item) => item.line)).toEqual(['first', 'second line', 'third']);
    writeFileSync(join(dir, 'crlf.jsonl'), '{"id":"c1"}\r\n\r\n{"id":"c2"}\r\n');
    expect(ids((await drain(logTail({ path: join(dir, 'crlf.jsonl') }), null)).items)).toEqual(['c1', 'c2']);
  });

  it('decodes multi-byte UTF-8 characters cut across reads', async () => {
    const lines = ['çãé€😀 ascii', '日本語のログ行', '🙂🙃', 'a€b', '\u{10348}ok'];
    writeFileSync(path, `\uFEFF${lines.join('\n')}\n`);
    for (const chunkBytes of [1, 2, 3, 5, 7]) {
      const { items } = await drain(logTail({ path, format: 'text', chunkBytes, pageSize: 2 }), null);
      expect(items.map((item) => item.line)).toEqual(lines);
    }
    writeFileSync(path, `${lines.map((text) => JSON.stringify({ text })).join('\n')}\n`);
    const { items } = await drain(logTail({ path, chunkBytes: 3 }), null);
    expect(items.map((item) => item.text)).toEqual(lines);
  });

  it('gives text lines their file identity and byte offset, stable across reads and distinct after a truncation', async () => {
    writeFileSync(path, 'one\ntwo\n');
    const driver = logTail({ path, format: 'text' });
    const { items, checkpoint } = await drain(driver, null);
    const stats = statSync(path, { bigint: true });
    expect(items).toEqual([
      { line: 'one', file: { dev: String(stats.dev), ino: String(stats.ino), head: checkpoint.file?.head }, offset: 0 },
      { line: 'two', file: { dev: String(stats.dev), ino: String(stats.ino), head: checkpoint.file?.head }, offset: 4 },
    ]);
    expect((await drain(driver, null)).items.map(logLineId)).toEqual(items.map(logLineId));
    truncateSync(path, 0);
    writeFileSync(path, 'uno\ndos\ntres\n');
    const again = await drain(driver, checkpoint);
    expect(again.items.map((item: LogLine) => item.line)).toEqual(['uno', 'dos', 'tres']);
    expect(again.items.map(logLineId).filter((id) => items.map(logLineId).includes(id))).toEqual([]);
  });

  describe('filters', () => {
    const lines = [
      { id: 'l1', type: 'signup', meta: { type: 'web' } },
      { id: 'l2', type: 'login', meta: { type: 'app' } },
      { id: 'l3', type: 'signup', meta: { type: 'app' } },
      { id: 'l4', type: 'purchase', meta: { type: ['web'] } },
    ];
    beforeEach(() => {
      writeFileSync(path, `${lines.map((line) => JSON.stringify(line)).join('\n')}\nnot json at all\n`);
    });
    const read = async (options: Omit<LogTailOptions, 'path'>) => {
      const result = await drain(logTail({ path, ...options, format: 'jsonl' }), null);
      // Skipped lines still move the checkpoint: nothing is read twice.
      expect(result.checkpoint.offset).toBe(statSync(path).size);
      return { ids: ids(result.items), rejected: result.rejected.map((r) => r.raw) };
    };

    it('contains: matching lines only, decided before parsing (the bad line does not match, so it is not rejected)', async () => {
      expect(await read({ filter: { contains: '"signup"' } })).toEqual({ ids: ['l1', 'l3'], rejected: [] });
    });

    it('regex, as a string or a RegExp (a g flag does not make it skip every other match)', async () => {
      expect(await read({ filter: { regex: '"type":"(login|purchase)"' } })).toEqual({ ids: ['l2', 'l4'], rejected: [] });
      expect(await read({ filter: { regex: /"app"|json/g } })).toEqual({ ids: ['l2', 'l3'], rejected: ['not json at all'] });
    });

    it('field equals a value or any of several, with a dotted path; lines that are not JSON are rejected', async () => {
      expect(await read({ filter: { field: 'meta.type', equals: 'app' } })).toEqual({ ids: ['l2', 'l3'], rejected: ['not json at all'] });
      expect(await read({ filter: { field: 'type', equals: ['login', 'purchase'] } })).toEqual({ ids: ['l2', 'l4'], rejected: ['not json at all'] });
      expect(await read({ filter: { field: 'meta.type', equals: [['web']] } })).toEqual({ ids: ['l4'], rejected: ['not json at all'] });
      expect(await read({ filter: { field: 'id.length', equals: 2 } })).toEqual({ ids: [], rejected: ['not json at all'] });
    });

    it('a function gets the line and its parsed value', async () => {
      const seen: unknown[] = [];
      const filter = (line: string, parsed?: unknown) => {
        seen.push(parsed);
        return line.includes('signup') || (parsed as { id?: string } | undefined)?.id === 'l4';
      };
      expect(await read({ filter })).toEqual({ ids: ['l1', 'l3', 'l4'], rejected: [] });
      expect(seen).toEqual([...lines, undefined]);
      const text = await drain(logTail({ path, format: 'text', filter: (line) => line.startsWith('not') }), null);
      expect(text.items.map((item) => item.line)).toEqual(['not json at all']);
    });
  });

  it('rejects a line that is not JSON, or not an object, with its raw text, and goes on', async () => {
    writeFileSync(path, '{"id":"ok1"}\n{"id": broken\n[1,2]\n42\n{"id":"ok2"}\n');
    const { items, rejected } = await drain(logTail({ path, pageSize: 2 }), null);
    expect(ids(items)).toEqual(['ok1', 'ok2']);
    expect(rejected).toEqual([
      { raw: '{"id": broken', reason: expect.stringMatching(/^not valid JSON: /) },
      { raw: '[1,2]', reason: 'a JSON line must be an object, not an array' },
      { raw: '42', reason: 'a JSON line must be an object, not number' },
    ]);
  });

  it('rejects a line longer than maxLineBytes with an excerpt, without holding it whole', async () => {
    writeFileSync(path, `${jsonLines(['a1'])}${JSON.stringify({ id: 'big', pad: 'x'.repeat(5000) })}\n${jsonLines(['a2'])}`);
    const { items, rejected } = await drain(logTail({ path, maxLineBytes: 2048, chunkBytes: 100 }), null);
    expect(ids(items)).toEqual(['a1', 'a2']);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toMatch(/^line of 5\d{3} bytes at offset 12 is longer than maxLineBytes \(2048\)$/);
    expect(String(rejected[0]?.raw)).toMatch(/^\{"id":"big","pad":"x+…$/);
  });

  it('waits for a file that does not exist yet: empty pages, checkpoint unchanged, one warning', async () => {
    const driver = logTail({ path });
    const { context, logs } = capture();
    const first = await driver.pull(null, context);
    expect(first).toEqual({ items: [], checkpoint: { file: null, offset: 0 }, more: false });
    const second = await driver.pull(first.checkpoint, context);
    expect(second.checkpoint).toEqual(first.checkpoint);
    expect(warnings(logs)).toEqual(['log file does not exist (yet): nothing to read']);
    appendFileSync(path, jsonLines(['a1']));
    expect(ids((await drain(driver, second.checkpoint, context)).items)).toEqual(['a1']);
  });

  it('reads a big file in pages, each pull reading a bounded number of bytes', async () => {
    const count = 50_000;
    const all = Array.from({ length: count }, (_, i) => `r${i}`);
    writeFileSync(path, all.map((id, i) => `${JSON.stringify({ id, kind: i % 100 === 0 ? 'rare' : 'common' })}\n`).join(''));
    const paged = await drain(logTail({ path, pageSize: 1000 }), null);
    expect(ids(paged.items)).toEqual(all);
    expect(paged.pulls).toBe(50); // the last full page already knows no whole line is left
    // A sparse filter: pages end on the byte budget, not on the page size.
    const pageBytes = 64 * 1024;
    const sparse = await drain(logTail({ path, pageBytes, filter: { field: 'kind', equals: 'rare' } }), null);
    expect(ids(sparse.items)).toEqual(all.filter((_, i) => i % 100 === 0));
    const offsets = [0, ...sparse.checkpoints.map((c) => c.offset)];
    const steps = offsets.slice(1).map((offset, i) => offset - offsets[i]!);
    expect(Math.max(...steps)).toBeLessThan(pageBytes + 100);
    expect(sparse.pulls).toBeGreaterThan(statSync(path).size / (pageBytes + 100));
  });

  it('stops when the run is cancelled', async () => {
    writeFileSync(path, jsonLines(['a1']));
    const controller = new AbortController();
    controller.abort(new Error('hub closing'));
    const context: PullContext = { ...capture().context, signal: controller.signal };
    await expect(logTail({ path }).pull(null, context)).rejects.toThrow('hub closing');
  });

  it('checks its options with clear ConfigErrors', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ path: '' }, /path must be the log file's path/],
      [{ path, format: 'csv' }, /format must be 'jsonl' or 'text', not "csv"/],
      [{ path, pageSize: 0 }, /pageSize must be a whole number from 1, not 0/],
      [{ path, pageBytes: 1.5 }, /pageBytes must be a whole number from 1/],
      [{ path, maxLineBytes: -1 }, /maxLineBytes must be a whole number from 1/],
      [{ path, chunkBytes: Number.NaN }, /chunkBytes must be a whole number from 1/],
      [{ path, filter: {} }, /filter must be a function or an object with exactly one of contains, regex or field/],
      [{ path, filter: { contains: 'a', regex: 'b' } }, /exactly one of contains, regex or field/],
      [{ path, filter: { contains: '' } }, /filter.contains must be a non-empty string/],
      [{ path, filter: { regex: '(' } }, /filter.regex "\(" is not a valid regular expression/],
      [{ path, filter: { field: 'a..b', equals: 1 } }, /filter.field must be a field name or a dotted path/],
      [{ path, filter: { field: 'type' } }, /filter.field needs equals/],
      [{ path, format: 'text', filter: { field: 'type', equals: 'x' } }, /filter.field needs format 'jsonl'/],
      [{ path, rotated: { match: '' } }, /rotated.match must be a non-empty name prefix or a RegExp/],
    ];
    for (const [options, message] of bad) {
      expect(() => logTail(options as unknown as LogTailOptions)).toThrow(ConfigError);
      expect(() => logTail(options as unknown as LogTailOptions)).toThrow(message);
    }
  });
});
