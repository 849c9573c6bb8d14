/**
 * The results workflow: owns one provider request's per-recipient results that the
 * backend did not take when the send activity offered them. It retries them with capped
 * backoff for 25 hours, then tells the newsletter's workflow they are no longer owed
 * (delivered, or given up with an error log). Started by the send activity with the
 * results event's id, so a retried activity never starts two.
 */
import {
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { type ResultsEvent, workflowIdFor } from '../domain/types.ts';
import { resultsSettledSignal } from './signals.ts';

const { postResults } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '25 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

/** newsletterResultsWorkflow delivers one results event to the backend. */
export async function newsletterResultsWorkflow(event: ResultsEvent): Promise<'delivered' | 'given up'> {
  let outcome: 'delivered' | 'given up' = 'delivered';
  let cancelled: unknown;
  try {
    await postResults(event);
  } catch (err) {
    outcome = 'given up';
    // Cancelled (from the Temporal UI, say): the newsletter is told all the same, then this ends
    // cancelled. Runs of earlier releases sent nothing from their cancelled scope.
    if (isCancellation(err) && patched('results-settled-when-cancelled')) {
      cancelled = err;
      log.error('results callback given up: its workflow was cancelled', { event_id: event.event_id });
    } else {
      log.error('results callback given up after 25 hours', { event_id: event.event_id, error: String(err) });
    }
  }
  const settled = () => getExternalWorkflowHandle(workflowIdFor(event.newsletter_id)).signal(resultsSettledSignal);
  // A cancelled scope sends no signal, and the newsletter would wait for this one for ever: not only
  // when the cancel cut the callback short, also when it came in the task that brought its success
  // (runs of earlier releases sent theirs from the root scope, and replay so).
  const outlivesCancel = cancelled !== undefined || patched('settled-signal-outlives-cancel');
  await (outlivesCancel ? CancellationScope.nonCancellable(settled) : settled()).catch(() => {
    // The newsletter's workflow has closed: nobody is waiting for this count any more.
  });
  if (cancelled) throw cancelled;
  return outcome;
}
