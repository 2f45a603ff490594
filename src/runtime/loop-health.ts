// How one of a process's loops is doing, as the loop itself last said: when
// it finished a round and whether that round went well. Process beats carry
// it to the store (everyone sees every loop) and `/readyz` reads it (a loop
// that stopped ticking makes the process unready).
import type { LoopHealth, LoopStatus } from '../store/health-types.js';

export class LoopHealthTracker {
  readonly #name: string;
  readonly #clock: () => number;
  #status: LoopStatus = 'ok';
  #message: string | null = null;
  #lastTickAt: number | null = null;

  constructor(name: string, clock: () => number = Date.now) {
    this.#name = name;
    this.#clock = clock;
  }

  /** A round went well. */
  ok(message: string | null = null): void {
    this.#status = 'ok';
    this.#message = message;
    this.#lastTickAt = this.#clock();
  }

  /** A round ended in trouble: `degraded` (it goes on, slower or partly) or `error` (it got nothing done). */
  trouble(status: Exclude<LoopStatus, 'ok'>, message: string): void {
    this.#status = status;
    this.#message = message;
    this.#lastTickAt = this.#clock();
  }

  read(): LoopHealth {
    return { name: this.#name, status: this.#status, lastTickAt: this.#lastTickAt, message: this.#message };
  }
}
