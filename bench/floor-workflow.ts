/**
 * Temporal's floor, and the per-email design, as workflows: fan out `total` activities with
 * at most `concurrency` in flight, continuing as new before the history gets long (the
 * newsletter workflow does the same at 3,000 events). `noop` activities only sleep for the
 * provider latency (the floor); `sendOne` activities each send one email through the
 * Resend SDK (one activity per email). Deterministic: imports @temporalio/workflow only.
 */
import { condition, continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { FloorActivities } from './floor-activities.ts';

/** FanOutInput describes the whole fan-out; `next` and `failed` carry progress across runs. */
export interface FanOutInput {
  kind: 'noop' | 'email';
  total: number;
  concurrency: number;
  latencyMs: number;
  /** prefix names the recipients of `email` activities: <prefix><i>@example.com. */
  prefix: string;
  /**
   * eager (default true) lets the server hand an activity back with the workflow task that
   * scheduled it (same task queue, same worker). false sends every activity through
   * matching, as the service's sends on their provider queues always go.
   */
  eager?: boolean;
  next: number;
  failed: number;
}

/** FanOutResult counts activities that completed and failed (after retries), over every run. */
export interface FanOutResult {
  completed: number;
  failed: number;
  runs: number;
}

const CONTINUE_AS_NEW_AFTER_EVENTS = 3_000;

const options = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 5 },
} as const;
const eager = proxyActivities<FloorActivities>(options);
const matched = proxyActivities<FloorActivities>({ ...options, allowEagerDispatch: false });

/** fanOutWorkflow runs the fan-out and returns its counts. */
export async function fanOutWorkflow(input: FanOutInput, runs = 1): Promise<FanOutResult> {
  let { next, failed } = input;
  let inFlight = 0;
  const historyFull = () => {
    const info = workflowInfo();
    return info.historyLength >= CONTINUE_AS_NEW_AFTER_EVENTS || info.continueAsNewSuggested;
  };
  const { noop, sendOne } = input.eager === false ? matched : eager;
  const run = (index: number) =>
    input.kind === 'noop' ? noop(input.latencyMs) : sendOne({ prefix: input.prefix, index });
  for (;;) {
    await condition(() => inFlight < input.concurrency);
    if (next >= input.total || historyFull()) break;
    inFlight += 1;
    void run(next++).catch(() => failed++).finally(() => inFlight--);
  }
  await condition(() => inFlight === 0);
  if (next < input.total) {
    await continueAsNew<typeof fanOutWorkflow>({ ...input, next, failed }, runs + 1);
  }
  return { completed: input.total - failed, failed, runs };
}
