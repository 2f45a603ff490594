// The outward dead-man's switch: while this process is healthy it calls a URL
// on a schedule (a Healthchecks-style checker's ping URL). When the hub dies,
// hangs or its loops fail, the calls stop, and the checker outside notices the
// silence: the one failure the hub cannot report about itself.
import type { Logger } from 'pino';
import { request } from 'undici';
import { WorkLoop } from '../runtime/work-loop.js';

const TIMEOUT_MS = 10_000;

export class DeadMansSwitch {
  readonly #url: string;
  readonly #intervalMs: number;
  readonly #healthy: () => string | undefined;
  readonly #log: Logger;
  readonly #loop = new WorkLoop(() => this.#round());
  /** The last outcome logged, so a failing checker is logged once per change, not every interval. */
  #lastOutcome: 'sent' | 'failed' | 'held' | undefined;

  /** `trouble` says why the process is unhealthy now, or undefined when it is healthy. */
  constructor(url: string, intervalMs: number, trouble: () => string | undefined, log: Logger) {
    this.#url = url;
    this.#intervalMs = intervalMs;
    this.#healthy = trouble;
    this.#log = log;
  }

  start(): void {
    this.#loop.start();
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  async #round(): Promise<number> {
    const trouble = this.#healthy();
    if (trouble !== undefined) {
      if (this.#lastOutcome !== 'held') this.#log.warn({ reason: trouble }, 'not calling the heartbeat URL while this process is unhealthy');
      this.#lastOutcome = 'held';
      return this.#intervalMs;
    }
    try {
      const response = await request(this.#url, { method: 'GET', headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
      await response.body.dump();
      if (response.statusCode >= 300) throw new Error(`HTTP ${response.statusCode}`);
      if (this.#lastOutcome !== 'sent') this.#log.info('heartbeat URL called; it will be called every interval while this process is healthy');
      this.#lastOutcome = 'sent';
    } catch (error) {
      if (this.#lastOutcome !== 'failed') this.#log.warn({ err: error }, 'the heartbeat URL did not take the call; trying again next interval');
      this.#lastOutcome = 'failed';
    }
    return this.#intervalMs;
  }
}
