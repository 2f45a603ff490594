// A nap that new work can cut short: the idle wait of the processor and the
// dispatcher loops. A wake that arrives while nobody sleeps is kept, so the
// next nap returns at once and no work waits a whole poll interval.
export class Waker {
  #pending = false;
  #interrupt: (() => void) | undefined;

  wake(): void {
    this.#pending = true;
    this.#interrupt?.();
  }

  /** Sleeps up to `ms`, or until `wake()`. */
  sleep(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.#interrupt = undefined;
        this.#pending = false;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.#interrupt = finish;
    });
  }
}
