/**
 * The newsletters open in Temporal, by state: the `newsletter_newsletters_open` gauge, which
 * the NewsletterStuck alert reads (a newsletter RUNNING while no email is settled). Each
 * newsletter's workflow keeps its state in its memo, so one list call answers for all of them:
 * no query, and no worker needed (the gauge stays true while workers are down). A newsletter
 * whose workflow keeps no state there (begun before this release) counts as `unknown`.
 */
import type { Client } from '@temporalio/client';
import type { NewsletterState } from '../domain/types.ts';
import type { Logger } from '../logger.ts';

/**
 * OpenState is a state a newsletter can be open in; PAUSED_ITSELF a pause the newsletter made
 * itself (every provider refused for too long: it waits for a person), apart from a person's
 * PAUSED; unknown: no state in its memo.
 */
export type OpenState = NewsletterState | 'PAUSED_ITSELF' | 'unknown';

/** OPEN_QUERY lists the newsletters whose workflow has not closed (a final one still owes callbacks). */
export const OPEN_QUERY = `WorkflowType = 'newsletterWorkflow' AND ExecutionStatus = 'Running'`;

/** COUNT_EVERY_MS is how often the bridge counts; LIST_DEADLINE_MS bounds one count. */
const COUNT_EVERY_MS = 30_000;
const LIST_DEADLINE_MS = 20_000;

/** countOpen lists the open newsletters once and counts them by the state in their memo. */
export async function countOpen(client: Client): Promise<Map<OpenState, number>> {
  const counts = new Map<OpenState, number>();
  await client.withDeadline(Date.now() + LIST_DEADLINE_MS, async () => {
    for await (const execution of client.workflow.list({ query: OPEN_QUERY })) {
      const state = execution.memo?.['state'];
      const key: OpenState = typeof state !== 'string'
        ? 'unknown'
        : state === 'PAUSED' && execution.memo?.['paused_by'] === 'itself'
        ? 'PAUSED_ITSELF'
        : state as NewsletterState;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  });
  return counts;
}

/**
 * watchOpenNewsletters counts the open newsletters every everyMs and reports the counts. When
 * Temporal does not answer, the last counts stand (logged once per outage). stop does not wait
 * for a count in flight (up to LIST_DEADLINE_MS against a slow Temporal): its answer is dropped.
 */
export function watchOpenNewsletters(
  client: Client,
  report: (counts: Map<OpenState, number>) => void,
  logger: Logger,
  everyMs = COUNT_EVERY_MS,
): { stop(): Promise<void> } {
  let inFlight: Promise<void> | undefined;
  let failing = false;
  let stopped = false;
  const run = () => {
    if (inFlight) return; // one count at a time
    inFlight = countOpen(client).then(
      (counts) => {
        failing = false;
        if (!stopped) report(counts);
      },
      (err) => {
        if (stopped) return;
        if (!failing) {
          logger.warn({ err: String(err) }, 'could not count the open newsletters: the gauge keeps its last counts');
        }
        failing = true;
      },
    ).finally(() => {
      inFlight = undefined;
    });
  };
  run();
  const timer = setInterval(run, everyMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      return Promise.resolve();
    },
  };
}
