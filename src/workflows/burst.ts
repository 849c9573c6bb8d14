/**
 * Spending what a provider queue saved up while the newsletter sent nothing there
 * (activities/rate.ts says why). The Temporal server dispatches a provider's queue at the
 * account's rate from a token bucket that holds up to one second's worth: a queue that idled
 * lets that much through at once, then the rate, and a provider counting in one-second
 * windows sees up to twice its rate in the first one and refuses the excess. So before the
 * first request after a lull — the newsletter's first, after a pause, an outage, a wait for
 * throttled requests, a continue-as-new — the workflow schedules as many `drainBurst` tasks
 * (no request each) as the lull can have saved up, and its requests after them in the same
 * workflow task: the bucket is spent on the no-op tasks and the requests go at the rate from
 * the first one on. A lull is reckoned from this newsletter's own requests: where another
 * newsletter kept the queue busy meanwhile, the no-op tasks take dispatches from both (at
 * most one second's worth, shared fairly), which costs time, not requests.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { type ProviderName, providerTaskQueue } from '../domain/types.ts';

/**
 * MAX_DRAINED_BURST bounds the no-op tasks of one drain (three history events each). A queue
 * whose burst is larger (a rate above 99 requests/s) is not drained: its burst is left to the
 * provider's 429s, which are honoured.
 */
export const MAX_DRAINED_BURST = 100;

/** burstOf is what an idle queue at this rate lets through at once: one second's worth, and one. */
export const burstOf = (queueRate: number): number => Math.ceil(queueRate) + 1;

/** BurstState is what a run hands the next (Carried.bursts). */
export interface BurstState {
  /** rates are the provider queues' rates (dispatches per second) as their workers answered. */
  rates: Partial<Record<ProviderName, number>>;
  /** idleSince is when the newsletter's last request on each provider ended, if none is in flight (epoch ms). */
  idleSince: Partial<Record<ProviderName, number>>;
}

/** BurstDrains drains a provider queue before the newsletter's first request there after a lull. */
export class BurstDrains {
  readonly #state: BurstState;
  readonly #drainOne: (provider: ProviderName) => Promise<number>;
  readonly #warn: (message: string, fields: Record<string, unknown>) => void;
  readonly #inFlight = new Map<ProviderName, number>();
  /** #draining is the drain under way per provider: requests starting meanwhile go after it. */
  readonly #draining = new Map<ProviderName, Promise<void>>();
  /** #undrainable: providers whose queue did not answer (a worker of an earlier release): not drained this run. */
  readonly #undrainable = new Set<ProviderName>();

  /**
   * @param state carried from run to run (a later run's first drain needs no round trip, and
   *   knows how long the queue has had); updated here.
   * @param drainOne runs one drainBurst task on the provider's queue (drainerFor).
   */
  constructor(
    state: BurstState,
    drainOne: (provider: ProviderName) => Promise<number>,
    warn: (message: string, fields: Record<string, unknown>) => void,
  ) {
    this.#state = state;
    this.#drainOne = drainOne;
    this.#warn = warn;
  }

  /** request runs one provider request (`send` schedules its activity), after a drain when the queue had a lull. */
  async request<T>(provider: ProviderName, send: () => Promise<T>): Promise<T> {
    const inFlight = this.#inFlight.get(provider) ?? 0;
    this.#inFlight.set(provider, inFlight + 1);
    try {
      let draining = this.#draining.get(provider);
      if (!draining && inFlight === 0) {
        draining = this.#drain(provider).finally(() => this.#draining.delete(provider));
        this.#draining.set(provider, draining);
      }
      if (draining) await draining;
      return await send();
    } finally {
      const left = this.#inFlight.get(provider)! - 1;
      this.#inFlight.set(provider, left);
      if (left === 0) this.#state.idleSince[provider] = Date.now();
    }
  }

  /** #drain schedules the no-op tasks (without waiting for them), after asking the queue's rate if not known yet. */
  async #drain(provider: ProviderName): Promise<void> {
    if (this.#undrainable.has(provider)) return;
    let rate = this.#state.rates[provider];
    if (rate === undefined) {
      try {
        rate = await this.#drainOne(provider);
      } catch (err) {
        this.#undrainable.add(provider);
        this.#warn('provider queue not drained before sending', { provider, error: String(err) });
        return;
      }
      this.#state.rates[provider] = rate;
    }
    const burst = burstOf(rate);
    if (burst > MAX_DRAINED_BURST) return;
    // Saved up since the last request ended (the whole burst before the first; the answer about
    // the rate took a round trip, during which the bucket refilled too).
    const since = this.#state.idleSince[provider];
    const saved = since === undefined ? burst : Math.min(burst, Math.floor(((Date.now() - since) / 1000) * rate));
    for (let i = 0; i < saved; i++) void this.#drainOne(provider).catch(() => undefined);
  }
}

/** drainerFor runs one drainBurst on the provider's task queue, with the newsletter as fairness key (like its requests), first. */
export function drainerFor(taskQueue: string, newsletterId: string): (provider: ProviderName) => Promise<number> {
  return (provider) =>
    proxyActivities<Activities>({
      taskQueue: providerTaskQueue(taskQueue, provider),
      // Ahead of every request waiting on the queue: the server hands tasks scheduled together to
      // matching in no fixed order, and a no-op task left behind the requests would take its
      // dispatch after the first second, leaving the requests that went ahead of it to the 429s.
      priority: { fairnessKey: newsletterId, priorityKey: 1 },
      startToCloseTimeout: '10 seconds',
      // Not worth a retry: a drain that fails leaves a few 429s to the provider.
      retry: { maximumAttempts: 1 },
    }).drainBurst(provider);
}
