/**
 * The provider queues' start-up burst. The Temporal server limits each provider's task queue
 * to the account's rate, but a queue that has been idle lets about one second's worth of
 * requests through at once (its token bucket starts full: the burst is fixed at one second in
 * the server), and a provider counting in one-second windows then sees about twice its rate
 * in the first window and refuses the excess. The newsletter workflow spends that burst on
 * `drainBurst` tasks, which take one of the queue's dispatches each and send nothing, before
 * its first requests (workflows/burst.ts).
 */
import type { ProviderName } from '../domain/types.ts';

/** createRateActivities builds drainBurst around the rates the workers set on the provider queues. */
export function createRateActivities(deps: { queueRates: Readonly<Record<ProviderName, number>> }) {
  return {
    /**
     * drainBurst runs on the provider's queue and sends nothing: its dispatch is one of the
     * queue's. It answers the queue's rate (dispatches per second), from which the workflow
     * knows the burst.
     */
    drainBurst(provider: ProviderName): Promise<number> {
      return Promise.resolve(deps.queueRates[provider]);
    },
  };
}
