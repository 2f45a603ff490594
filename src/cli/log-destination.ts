// Where `confluo start` writes its JSON log lines: a file descriptor (stdout)
// whose failed writes are dropped and counted, never retried. pino's default
// destination keeps a failed line and retries it forever, so a full disk under
// `npm start > hub.log` used to stop the hub; a log line is worth less than the hub.
import { writeSync } from 'node:fs';

export interface LogDestinationOptions {
  /** @defaultValue 1 (stdout) */
  fd?: number;
  /** Where notes about dropped lines go. @defaultValue 2 (stderr) */
  noteFd?: number;
  /** Least time between two notes while writes keep failing. @defaultValue 60000 */
  noteEveryMs?: number;
  /** Told once writes succeed again, with how many lines were lost; what it logs lands in the log itself. */
  onResumed?: (loss: { dropped: number; code: string }) => void;
  clock?: () => number;
}

export class LogDestination {
  /** Lines dropped since this destination was made. */
  dropped = 0;
  readonly #fd: number;
  readonly #noteFd: number;
  readonly #noteEveryMs: number;
  readonly #onResumed: NonNullable<LogDestinationOptions['onResumed']>;
  readonly #clock: () => number;
  /** The error code of the failure under way, if writes are failing. */
  #failing: string | undefined;
  #droppedInFailure = 0;
  #notedAt = -Infinity;
  /** A line was cut short by a failure: the next write starts a new line first. */
  #torn = false;

  constructor(options: LogDestinationOptions = {}) {
    this.#fd = options.fd ?? 1;
    this.#noteFd = options.noteFd ?? 2;
    this.#noteEveryMs = options.noteEveryMs ?? 60_000;
    this.#onResumed = options.onResumed ?? (() => undefined);
    this.#clock = options.clock ?? Date.now;
  }

  write(line: string): void {
    try {
      if (this.#torn) {
        this.#writeAll('\n');
        this.#torn = false;
      }
      this.#writeAll(line);
    } catch (error) {
      this.#drop(error);
      return;
    }
    if (this.#failing !== undefined) this.#resume();
  }

  /** One write call for a whole line, the common case; a short write (a disk filling mid-line) continues from where it stopped. */
  #writeAll(line: string): void {
    let written = writeSync(this.#fd, line);
    const bytes = Buffer.byteLength(line);
    if (written === bytes) return;
    this.#torn = true;
    const buffer = Buffer.from(line);
    while (written < bytes) written += writeSync(this.#fd, buffer, written);
    this.#torn = false;
  }

  #drop(error: unknown): void {
    this.dropped += 1;
    this.#droppedInFailure += 1;
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    const now = this.#clock();
    if (this.#failing === undefined) {
      this.#failing = code;
      this.#notedAt = now;
      this.note(`confluo: cannot write the log (${code}); dropping log lines until writes succeed again\n`);
    } else if (now - this.#notedAt >= this.#noteEveryMs) {
      this.#notedAt = now;
      this.note(`confluo: still cannot write the log (${code}); ${this.#droppedInFailure} lines dropped so far\n`);
    }
  }

  #resume(): void {
    const loss = { dropped: this.#droppedInFailure, code: this.#failing as string };
    this.#failing = undefined;
    this.#droppedInFailure = 0;
    this.note(`confluo: the log is written again after ${loss.dropped} lines were dropped (${loss.code})\n`);
    // After this write returns, so a line logged from the callback does not interleave with it.
    queueMicrotask(() => this.#onResumed(loss));
  }

  /** Writes `text` to stderr (the note descriptor) if it can; never throws, since stderr may be on the same full disk. */
  note(text: string): void {
    try {
      writeSync(this.#noteFd, text);
    } catch {
      // nowhere left to say it: the count is all that remains
    }
  }
}
