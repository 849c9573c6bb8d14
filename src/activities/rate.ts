/**
 * The provider queues' saved-up burst. The Temporal server limits each provider's task queue
 * to the account's rate, but a queue that has been idle lets about one second's worth of
 * requests through at once (its token bucket starts full: the burst is fixed at one second in
 * the server), and a provider counting in one-second windows then sees about twice its rate
 * in the first window and refuses the excess. The newsletter workflow spends what an idle
 * queue saved up on `drainBurst` tasks, which take one of the queue's dispatches each and
 * send nothing, before its requests (workflows/burst.ts); `providerQueue` tells it first
 * whether to: not when tasks already wait on the queue (they are spending it), nor when
 * another newsletter drained it moments ago (newsletters starting together drain it once).
 */
import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import proto from '@temporalio/proto';
import {
  burstGateIdFor,
  type ProviderName,
  type ProviderQueueAsk,
  type ProviderQueueState,
  providerTaskQueue,
} from '../domain/types.ts';

/** DRAIN_GATE_MS: after one newsletter drains a provider queue, others do not for this long (about how stale the server's backlog count may be). */
export const DRAIN_GATE_MS = 5_000;

/** ProviderQueues looks at the provider queues through Temporal. */
export interface ProviderQueues {
  /**
   * describe is the queue as the server describes it: about how many tasks wait (undefined: the
   * server did not say), and the rate a worker or an operator set on it (undefined: none yet).
   */
  describe(provider: ProviderName): Promise<{ backlog?: number; rate?: number }>;
  /** claimDrain takes the queue's drain for DRAIN_GATE_MS for a newsletter: false when another newsletter holds it. */
  claimDrain(provider: ProviderName, newsletterId: string): Promise<boolean>;
}

/** RateDeps: the rates the workers set on the provider queues, and the queues. */
export interface RateDeps {
  /** queueRates are the dispatches per second each provider queue's workers set. */
  queueRates: Readonly<Record<ProviderName, number>>;
  providerQueues: ProviderQueues;
}

/** createRateActivities builds the provider queue activities around their dependencies. */
export function createRateActivities(deps: RateDeps) {
  return {
    /**
     * providerQueue runs on the main queue (it takes none of the provider queue's dispatches):
     * the queue's rate (the server's, where an operator overrode it) and whether to drain it.
     */
    async providerQueue({ provider, maxRate, newsletterId }: ProviderQueueAsk): Promise<ProviderQueueState> {
      const { backlog, rate: inForce } = await deps.providerQueues.describe(provider);
      const rate = inForce && inForce > 0 ? inForce : deps.queueRates[provider];
      // A backlog not reported is not known to be empty: no drain (it would go ahead of everyone).
      const drain = backlog === 0 && rate <= maxRate &&
        await deps.providerQueues.claimDrain(provider, newsletterId);
      return { rate, drain };
    },
    /** drainBurst runs on the provider's queue and sends nothing: its dispatch is one of the queue's. */
    drainBurst(_provider: ProviderName): Promise<void> {
      return Promise.resolve();
    },
  };
}

/** providerQueuesThroughTemporal looks at the queues of the main task queue's providers through the activity's own client. */
export function providerQueuesThroughTemporal(namespace: string, taskQueue: string): ProviderQueues {
  return {
    async describe(provider) {
      const answer = await Context.current().client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: providerTaskQueue(taskQueue, provider) },
        taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        reportStats: true,
        reportConfig: true,
      });
      // Only a rate someone set: before any worker polled, the server answers its own default.
      const { RateLimitSource } = proto.temporal.api.enums.v1;
      const limit = answer.effectiveRateLimit;
      const set = limit?.rateLimitSource === RateLimitSource.RATE_LIMIT_SOURCE_WORKER ||
        limit?.rateLimitSource === RateLimitSource.RATE_LIMIT_SOURCE_API;
      const backlog = answer.stats ? Number(answer.stats.approximateBacklogCount ?? 0) : undefined;
      return {
        ...(backlog !== undefined ? { backlog } : {}),
        ...(set && limit?.requestsPerSecond ? { rate: limit.requestsPerSecond } : {}),
      };
    },
    async claimDrain(provider, newsletterId) {
      // The gate is a workflow that only waits: its id is taken while it runs, its memo names who took it.
      const { client } = Context.current();
      const workflowId = burstGateIdFor(providerTaskQueue(taskQueue, provider));
      try {
        await client.workflow.start('burstGateWorkflow', {
          workflowId,
          taskQueue,
          args: [DRAIN_GATE_MS],
          memo: { newsletter_id: newsletterId },
          workflowIdConflictPolicy: 'FAIL',
          // A gate no worker ran (all of them down meanwhile) does not hold the queue for long.
          workflowExecutionTimeout: '1 minute',
        });
        return true;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        // The newsletter that holds the gate drains again after a lull of its own (its requests
        // all throttled, an outage's next try): nobody else's requests spend the bucket then.
        const held = await client.workflow.getHandle(workflowId).describe();
        return held.memo?.['newsletter_id'] === newsletterId;
      }
    },
  };
}
