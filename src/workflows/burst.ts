/**
 * Spending what a provider queue saved up while it idled (activities/rate.ts says why). The
 * Temporal server dispatches a provider's queue at the account's rate from a token bucket that
 * holds up to one second's worth: a queue that idled lets that much through at once, then the
 * rate, and a provider counting in one-second windows sees up to twice its rate in the first
 * one and refuses the excess. So before the newsletter's first request after a lull on a
 * queue — its first, after a pause, an outage, a wait for throttled requests, a
 * continue-as-new — the workflow asks whether the queue idles (`providerQueue`, on the main
 * queue: it costs none of the provider queue's dispatches). If it does, it schedules as many
 * `drainBurst` tasks (no request each) as the lull can have saved up, ahead of everything
 * waiting (priority 1), and its requests with them: the bucket is spent on the no-op tasks and
 * the requests go at the rate from the first one on. If tasks wait on the queue, they are
 * spending the bucket already; if another newsletter drained it moments ago (a gate workflow
 * of its own: `burstGateWorkflow`), its no-op tasks spend it: nothing is drained, so
 * newsletters starting together do not each pay a second of the queue.
 */
import { ActivityFailure, proxyActivities, sleep, TimeoutFailure } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import {
  MAX_DRAINED_RATE,
  type ProviderName,
  type ProviderQueueAsk,
  type ProviderQueueState,
  PROVIDERS,
  providerTaskQueue,
} from '../domain/types.ts';

/** burstOf is what an idle queue at this rate lets through at once: one second's worth, and one. */
const burstOf = (queueRate: number): number => Math.ceil(queueRate) + 1;

/** BurstState is what a run hands the next (Carried.bursts). */
export interface BurstState {
  /** rates are the provider queues' rates (dispatches per second) as the server last described them. */
  rates: Partial<Record<ProviderName, number>>;
  /** idleSince is when the newsletter's last request on each provider ended, if none is in flight (epoch ms). */
  idleSince: Partial<Record<ProviderName, number>>;
}

/** QueueCalls are the activities a drain takes: a look at the queue, and one no-op task on it. */
export interface QueueCalls {
  ask(ask: Omit<ProviderQueueAsk, 'newsletterId'>): Promise<ProviderQueueState>;
  drainOne(provider: ProviderName): Promise<void>;
}

/** BurstDrains drains a provider queue before the newsletter's first request there after a lull. */
export class BurstDrains {
  readonly #state: BurstState;
  readonly #calls: QueueCalls;
  readonly #warn: (message: string, fields: Record<string, unknown>) => void;
  readonly #inFlight = new Map<ProviderName, number>();
  /** #draining is the drain under way per provider: requests starting meanwhile go after it. */
  readonly #draining = new Map<ProviderName, Promise<void>>();
  /**
   * #notThisRun: providers not drained again this run — their queue could not be asked about (a
   * worker of an earlier release) or is over MAX_DRAINED_RATE (a later run asks again: a rate may
   * be set lower since).
   */
  readonly #notThisRun = new Set<ProviderName>();
  #drainFailed = false;

  /**
   * @param state carried from run to run (how long the queue has had since the newsletter's last
   *   request, at what rate); updated here.
   */
  constructor(
    state: BurstState,
    calls: QueueCalls,
    warn: (message: string, fields: Record<string, unknown>) => void,
  ) {
    this.#state = state;
    this.#calls = calls;
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

  /** saved is what the queue can have saved up by now at this rate: the whole burst before the first request. */
  #saved(provider: ProviderName, rate: number): number {
    const since = this.#state.idleSince[provider];
    const burst = burstOf(rate);
    return since === undefined ? burst : Math.min(burst, Math.floor(((Date.now() - since) / 1000) * rate));
  }

  /** #drain schedules the no-op tasks (without waiting for them) if the queue idles and saved anything up. */
  async #drain(provider: ProviderName): Promise<void> {
    if (this.#notThisRun.has(provider)) return;
    const known = this.#state.rates[provider];
    // A lull too short to save a whole dispatch: no need to ask.
    if (known !== undefined && known <= MAX_DRAINED_RATE && this.#saved(provider, known) === 0) return;
    let queue: ProviderQueueState;
    try {
      queue = await this.#calls.ask({ provider, maxRate: MAX_DRAINED_RATE });
    } catch (err) {
      // No answer in time (the main queue busy): this lull goes undrained, the next one asks again.
      // Any other failure (a worker of an earlier release has no providerQueue): not again this run.
      const timedOut = err instanceof ActivityFailure && err.cause instanceof TimeoutFailure;
      if (!timedOut) this.#notThisRun.add(provider);
      this.#warn('provider queue not drained before sending', { provider, error: String(err) });
      return;
    }
    this.#state.rates[provider] = queue.rate;
    if (queue.rate > MAX_DRAINED_RATE) this.#notThisRun.add(provider);
    // The activity answers drain only for a queue at most maxRate.
    if (!queue.drain) return;
    const saved = this.#saved(provider, queue.rate);
    for (let i = 0; i < saved; i++) {
      void this.#calls.drainOne(provider).catch((err) => {
        // Not worth a retry (a few 429s at worst), but worth saying once: no worker may take them.
        if (this.#drainFailed) return;
        this.#drainFailed = true;
        this.#warn('a no-op task on the provider queue failed', { provider, error: String(err) });
      });
    }
  }
}

/** queueCallsFor proxies the drain's activities, with the newsletter as fairness key (like its requests). */
export function queueCallsFor(taskQueue: string, newsletterId: string): QueueCalls {
  const { providerQueue } = proxyActivities<Activities>({
    // The newsletter's next request waits for the answer: not for long (a busy main queue).
    scheduleToCloseTimeout: '5 seconds',
    // Not worth a retry: a queue left undrained leaves a few 429s to the provider.
    retry: { maximumAttempts: 1 },
  });
  const noOps = new Map(PROVIDERS.map((provider) => [
    provider,
    proxyActivities<Activities>({
      taskQueue: providerTaskQueue(taskQueue, provider),
      // Ahead of every request waiting on the queue: the server hands tasks scheduled together to
      // matching in no fixed order, and a no-op task left behind the requests would take its
      // dispatch after the first second, leaving the requests that went ahead of it to the 429s.
      priority: { fairnessKey: newsletterId, priorityKey: 1 },
      // Dispatched later than that it would no longer spend the burst, only a request's slot.
      scheduleToStartTimeout: '2 seconds',
      startToCloseTimeout: '10 seconds',
      retry: { maximumAttempts: 1 },
    }).drainBurst,
  ]));
  return {
    ask: (ask) => providerQueue({ ...ask, newsletterId }),
    drainOne: (provider) => noOps.get(provider)!(provider),
  };
}

/**
 * burstGateWorkflow is held while one newsletter drains a provider queue (its id names the
 * queue: activities/rate.ts starts it): others asking meanwhile do not drain it too.
 */
export async function burstGateWorkflow(holdMs: number): Promise<void> {
  await sleep(holdMs);
}
