/**
 * The lifecycle sink counts a newsletter's sending begun and ended in the worker's metrics, from
 * the workflow, with nothing in its history.
 *
 * Why not a local activity (as chains begun before this release do): a local activity's result is
 * a marker in history that replay must see one workflow task ahead. When the worker reads a long
 * history in pages and a page ends just before that marker, Temporal Core resolves the local
 * activity only while matching the marker, after the workflow's next command was due, and replay
 * fails for good (TMPRL1100 on the `results-written-off` patch that follows the end's count;
 * `paged-history.test.ts`). A sink call is not recorded at all, so nothing is left to match.
 */
import type { InjectedSinks } from '@temporalio/worker';
import type { Sinks } from '@temporalio/workflow';
import type { NewsletterState } from '../domain/types.ts';
import type { DeliveryMetrics } from './metrics.ts';

/** LifecycleTransition is what is counted: sending begun, or ended in a final state. */
export type LifecycleTransition = { began: true } | { finished: NewsletterState };

/** LifecycleSinks is the sink as the workflow sees it (`proxySinks<LifecycleSinks>()`). */
export interface LifecycleSinks extends Sinks {
  lifecycle: { count(transition: LifecycleTransition): void };
}

/**
 * lifecycleSinks counts into metrics. Not called while replaying: a transition replayed was
 * counted when it happened (a workflow task that fails after counting is counted again when
 * retried, as a local activity was).
 */
export function lifecycleSinks(
  metrics: Pick<DeliveryMetrics, 'newsletterStarted' | 'newsletterFinished'> | undefined,
): InjectedSinks<LifecycleSinks> {
  return {
    lifecycle: {
      count: {
        fn(_info, transition) {
          if ('began' in transition) metrics?.newsletterStarted();
          else metrics?.newsletterFinished(transition.finished);
        },
        callDuringReplay: false,
      },
    },
  };
}
