// The shell of the processor's and the dispatcher's loops: run a step, nap as
// long as it asks (a wake cuts the nap short), again until stopped.
import { Waker } from './waker.js';

export class WorkLoop {
  readonly #step: () => Promise<number>;
  readonly #waker = new Waker();
  #running = false;
  #loop: Promise<void> | undefined;

  /** `step` does one round of work and returns how long to nap before the next (0: go on at once). It must not throw. */
  constructor(step: () => Promise<number>) {
    this.#step = step;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops after the step in hand. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#waker.wake();
    await this.#loop;
  }

  /** New work: end the nap now instead of at its end (kept if no nap is under way). */
  wake(): void {
    this.#waker.wake();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const pause = await this.#step();
      if (pause > 0 && this.#running) await this.#waker.sleep(pause);
    }
  }
}
