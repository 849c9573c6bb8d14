/**
 * GroupedSignals hands items to Temporal one signal per key at a time, the way a database
 * commits a group: the first item of a key goes at once; items that come while that key's
 * signal is in flight wait and go together in the next one (at most `max`). Each caller
 * hears back when the signal holding its item is in Temporal, or fails with it; an item still
 * waiting after `maxWaitMs` is given up on (its caller fails, it is never sent), so a backlog
 * beyond what Temporal takes answers "retry later" rather than growing without bound.
 *
 * Why: every signal to a workflow is a history write under that workflow's lock, so one
 * newsletter's events workflow took about 400 webhooks a second here (one signal each) while
 * a big send's providers report thousands a second. Grouped, a signal carries whatever came
 * in during the last one, and the rate grows with the load.
 */
export class GroupedSignals<T> {
  readonly #send: (key: string, items: T[]) => Promise<void>;
  readonly #max: number;
  readonly #maxWaitMs: number;
  /** #waiting holds, per key with a signal in flight, the items for its next signal and their callers. */
  readonly #waiting = new Map<string, Array<{ item: T; done: Settle }>>();

  constructor(send: (key: string, items: T[]) => Promise<void>, max: number, maxWaitMs = 10_000) {
    this.#send = send;
    this.#max = max;
    this.#maxWaitMs = maxWaitMs;
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
    return new Promise<void>((resolve, reject) => {
      const entry = {
        item,
        done: {
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (err: unknown) => {
            clearTimeout(timer);
            reject(err);
          },
        },
      };
      const timer = setTimeout(() => {
        const at = waiting.indexOf(entry);
        if (at < 0) return; // already in a signal: its outcome answers
        waiting.splice(at, 1);
        reject(new Error(`not handed to Temporal within ${this.#maxWaitMs} ms: too many at once`));
      }, this.#maxWaitMs);
      waiting.push(entry);
    });
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
