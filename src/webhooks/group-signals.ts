/**
 * GroupedSignals hands items to Temporal one signal per key at a time, the way a database
 * commits a group: the first item of a key goes at once; items that come while that key's
 * signal is in flight wait and go together in the next one (at most `max`). Each caller
 * hears back when the signal holding its item is in Temporal, or fails with it.
 *
 * Why: every signal to a workflow is a history write under that workflow's lock, so one
 * newsletter's events workflow took about 400 webhooks a second here (one signal each) while
 * a big send's providers report thousands a second. Grouped, a signal carries whatever came
 * in during the last one, and the rate grows with the load.
 */
export class GroupedSignals<T> {
  readonly #send: (key: string, items: T[]) => Promise<void>;
  readonly #max: number;
  /** #waiting holds, per key with a signal in flight, the items for its next signal and their callers. */
  readonly #waiting = new Map<string, Array<{ item: T; done: Settle }>>();

  constructor(send: (key: string, items: T[]) => Promise<void>, max: number) {
    this.#send = send;
    this.#max = max;
  }

  /** add sends item under key; resolves once a signal holding it is in, rejects if that signal failed. */
  add(key: string, item: T): Promise<void> {
    const waiting = this.#waiting.get(key);
    if (!waiting) {
      this.#waiting.set(key, []);
      const sent = this.#send(key, [item]);
      void sent.then(() => this.#next(key), () => this.#next(key));
      return sent;
    }
    return new Promise<void>((resolve, reject) => waiting.push({ item, done: { resolve, reject } }));
  }

  /** #next sends what waited for key's last signal, or notes that key has none in flight. */
  #next(key: string): void {
    const waiting = this.#waiting.get(key)!;
    if (waiting.length === 0) {
      this.#waiting.delete(key);
      return;
    }
    const group = waiting.splice(0, this.#max);
    const sent = this.#send(key, group.map((g) => g.item));
    void sent.then(
      () => {
        for (const g of group) g.done.resolve();
        this.#next(key);
      },
      (err: unknown) => {
        for (const g of group) g.done.reject(err);
        this.#next(key);
      },
    );
  }
}

interface Settle {
  resolve(): void;
  reject(err: unknown): void;
}
