/**
 * Where a fan-out's time goes, read from its workflow histories (every run): for each
 * activity of a type, how long it waited to be picked up (scheduled → started), how long
 * it ran (started → closed), and how long the workflow took to schedule the next one
 * after an activity closed (closed → next scheduled). The provider latency is in "ran";
 * everything else is orchestration.
 */
import type { Client } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time.js';

/** Spread summarizes durations in milliseconds. */
export interface Spread {
  mean: number;
  p50: number;
  p95: number;
}

/** Breakdown is the per-activity timing of one workflow id's activities of one type. */
export interface Breakdown {
  activities: number;
  /** waited is scheduled → started: the time to reach a worker (matching, rate limit, poll). */
  waited: Spread;
  /** ran is started → closed: the activity itself, provider latency included. */
  ran: Spread;
  /** turnaround is closed → the workflow's next activity scheduled (workflow task round trip). */
  turnaround: Spread;
}

function spread(values: number[]): Spread {
  if (values.length === 0) return { mean: NaN, p50: NaN, p95: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { mean: Math.round(mean * 10) / 10, p50: Math.round(at(0.5) * 10) / 10, p95: Math.round(at(0.95) * 10) / 10 };
}

/** breakdown reads every run of workflowId and times its activities named activityType. */
export async function breakdown(client: Client, workflowId: string, activityType: string): Promise<Breakdown> {
  const waited: number[] = [];
  const ran: number[] = [];
  const turnaround: number[] = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const events = (await client.workflow.getHandle(workflowId, run.runId).fetchHistory()).events ?? [];
    const scheduled = new Map<string, number>();
    const started = new Map<string, number>();
    let lastClosed: number | undefined;
    for (const event of events) {
      const at = tsToMs(event.eventTime);
      const s = event.activityTaskScheduledEventAttributes;
      if (s) {
        if (s.activityType?.name !== activityType) continue;
        scheduled.set(String(event.eventId), at);
        if (lastClosed !== undefined) {
          turnaround.push(at - lastClosed);
          lastClosed = undefined;
        }
        continue;
      }
      const st = event.activityTaskStartedEventAttributes;
      if (st && scheduled.has(String(st.scheduledEventId))) {
        started.set(String(st.scheduledEventId), at);
        waited.push(at - scheduled.get(String(st.scheduledEventId))!);
        continue;
      }
      const closed = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes;
      const id = String(closed?.scheduledEventId);
      if (closed && started.has(id)) {
        ran.push(at - started.get(id)!);
        lastClosed ??= at;
      }
    }
  }
  return { activities: ran.length, waited: spread(waited), ran: spread(ran), turnaround: spread(turnaround) };
}
