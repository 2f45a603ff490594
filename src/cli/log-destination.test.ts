import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support/index.js';
import { LogDestination } from './log-destination.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const undo of cleanup.splice(0).reverse()) undo();
});

function noteFile(): { fd: number; text: () => string } {
  const dir = tempDir('confluo-log-');
  const path = join(dir.path, 'notes');
  const fd = openSync(path, 'w');
  cleanup.push(dir.remove, () => closeSync(fd));
  return { fd, text: () => readFileSync(path, 'utf8') };
}

/** A FIFO this process both writes and reads, non-blocking: it fills (EAGAIN, short writes) and drains on demand. */
function pipe(): { fd: number; drain: () => string } {
  const dir = tempDir('confluo-log-');
  const path = join(dir.path, 'fifo');
  execFileSync('mkfifo', [path]);
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  cleanup.push(dir.remove, () => closeSync(fd));
  return {
    fd,
    drain() {
      const chunks: Buffer[] = [];
      const buffer = Buffer.alloc(65_536);
      for (;;) {
        try {
          const n = readSync(fd, buffer);
          if (n === 0) break;
          chunks.push(Buffer.from(buffer.subarray(0, n)));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw error;
        }
      }
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

describe('the log destination', () => {
  it('drops the lines a full disk refuses, without throwing, and notes it on stderr once a minute', () => {
    const full = openSync('/dev/full', 'w');
    cleanup.push(() => closeSync(full));
    const notes = noteFile();
    let now = 0;
    const destination = new LogDestination({ fd: full, noteFd: notes.fd, clock: () => now });

    for (let i = 0; i < 100; i += 1) destination.write(`{"msg":"line ${i}"}\n`);
    expect(destination.dropped).toBe(100);
    expect(notes.text()).toBe('confluo: cannot write the log (ENOSPC); dropping log lines until writes succeed again\n');

    now = 60_000;
    destination.write('{"msg":"one more"}\n');
    expect(notes.text().split('\n').filter(Boolean)).toEqual([
      'confluo: cannot write the log (ENOSPC); dropping log lines until writes succeed again',
      'confluo: still cannot write the log (ENOSPC); 101 lines dropped so far',
    ]);
  });

  it('writes again once the destination takes lines, ends a line cut short, and reports the loss', async () => {
    const fifo = pipe();
    const notes = noteFile();
    const losses: Array<{ dropped: number; code: string }> = [];
    const destination = new LogDestination({ fd: fifo.fd, noteFd: notes.fd, onResumed: (loss) => losses.push(loss) });
    const line = (i: number) => `{"msg":"${String(i).padStart(6, '0')}${'x'.repeat(10_000)}"}\n`;

    let sent = 0;
    while (destination.dropped === 0) destination.write(line(sent++));
    destination.write(line(sent++));
    const before = fifo.drain();
    destination.write('{"msg":"after"}\n');
    await Promise.resolve();

    const lines = `${before}${fifo.drain()}`.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.at(-1)).toBe('{"msg":"after"}');
    // Every line is whole but the one the full pipe cut short, which still ends with a newline.
    const whole = lines.filter((l) => /^\{"msg":"\d{6}x{10000}"\}$/.test(l));
    expect(lines.length - 1 - whole.length).toBe(1);
    expect(whole.length + destination.dropped).toBeGreaterThanOrEqual(sent - 1);
    expect(losses).toEqual([{ dropped: 2, code: 'EAGAIN' }]);
    expect(notes.text()).toContain('the log is written again after 2 lines were dropped (EAGAIN)');
  });
});
