// The shell of the processor's and the dispatcher's loops: run a step, nap as
// long as it asks (a wake cuts the nap short), again until stopped. Between
// steps that ask for no nap it yields to the event loop: with a synchronous
// store (SQLite) a step's awaits are all microtasks, and draining a backlog
// would otherwise hold HTTP requests, timers and I/O until the queue is empty.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Waker } from './waker.js';

/** The nap after a step that threw: it should not, but a loop that spins on an error helps no one. */
const AFTER_THROW_MS = 1000;

export class WorkLoop {
  readonly #step: () => Promise<number>;
  readonly #waker = new Waker();
  #running = false;
  /** Bumped by every start: a loop from an earlier start that is still finishing its step ends there. */
  #generation = 0;
  #loop: Promise<void> = Promise.resolve();

  /** `step` does one round of work and returns how long to nap before the next (0: go on at once). */
  constructor(step: () => Promise<number>) {
    this.#step = step;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    const generation = ++this.#generation;
    // After a stop still under way, the new loop starts once the old one has ended: never two at once.
    this.#loop = this.#loop.then(() => this.#run(generation));
  }

  /** Between start and stop (false from the moment stop is called). */
  get running(): boolean {
    return this.#running;
  }

  /** Stops after the step in hand. */
  async stop(): Promise<void> {
    if (this.#running) {
      this.#running = false;
      this.#waker.wake(); // ends the nap under way, if any
    }
    await this.#loop;
  }

  /** New work: end the nap now instead of at its end (kept if no nap is under way). */
  wake(): void {
    this.#waker.wake();
  }

  async #run(generation: number): Promise<void> {
    const current = () => this.#running && generation === this.#generation;
    while (current()) {
      let pause: number;
      try {
        pause = await this.#step();
      } catch {
        pause = AFTER_THROW_MS;
      }
      if (!current()) break;
      if (pause > 0) await this.#waker.sleep(pause);
      else await nextTurn();
    }
  }
}
