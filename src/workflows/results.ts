/**
 * The results workflow: owns one provider request's per-recipient results that the
 * backend did not take when the send activity offered them. It retries them with capped
 * backoff for 25 hours, then tells the newsletter's workflow they are no longer owed
 * (delivered, or given up with an error log). Started by the send activity with the
 * results event's id, so a retried activity never starts two.
 */
import { getExternalWorkflowHandle, log, proxyActivities } from '@temporalio/workflow';
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
  try {
    await postResults(event);
  } catch (err) {
    outcome = 'given up';
    log.error('results callback given up after 25 hours', { event_id: event.event_id, error: String(err) });
  }
  try {
    await getExternalWorkflowHandle(workflowIdFor(event.newsletter_id)).signal(resultsSettledSignal);
  } catch {
    // The newsletter's workflow has closed: nobody is waiting for this count any more.
  }
  return outcome;
}
