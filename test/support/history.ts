/**
 * What a newsletter's workflow history holds, read back from Temporal: runs, events and
 * bytes per run, the largest workflow task (the activity inputs one task scheduled), and
 * every payload decoded — to check that no recipient is stored there.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { decodePayload } from '../../src/data-converter.ts';

const { History, HistoryEvent } = proto.temporal.api.history.v1;

/** RunStats describes one run of a workflow. */
export interface RunStats {
  runId: string;
  events: number;
  bytes: number;
  /** largestTaskBytes is the most activity-input bytes a single workflow task scheduled. */
  largestTaskBytes: number;
}

/** HistoryStats describes every run of a workflow id. */
export interface HistoryStats {
  runs: RunStats[];
  /** text holds every payload of every run, decoded to JSON. */
  text: string;
}

type Payloadish = { metadata?: unknown; data?: Uint8Array | null };

function payloadsIn(value: unknown, out: Payloadish[] = []): Payloadish[] {
  if (!value || typeof value !== 'object') return out;
  if (value instanceof Uint8Array) return out;
  const v = value as Payloadish & Record<string, unknown>;
  if (v.metadata && v.data instanceof Uint8Array) {
    out.push(v);
    return out;
  }
  for (const child of Object.values(v)) payloadsIn(child, out);
  return out;
}

/** historyStats reads every run of workflowId. */
export async function historyStats(client: Client, workflowId: string): Promise<HistoryStats> {
  const runs: RunStats[] = [];
  const texts: string[] = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    const events = history.events ?? [];
    const byTask = new Map<string, number>();
    for (const event of events) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (!scheduled) continue;
      const task = String(scheduled.workflowTaskCompletedEventId);
      const size = HistoryEvent.encode(HistoryEvent.create(event)).finish().length;
      byTask.set(task, (byTask.get(task) ?? 0) + size);
    }
    for (const payload of payloadsIn(events)) {
      texts.push(JSON.stringify(await decodePayload(payload as never).catch(() => '')));
    }
    runs.push({
      runId: run.runId,
      events: events.length,
      bytes: History.encode(History.create(history)).finish().length,
      largestTaskBytes: Math.max(0, ...byTask.values()),
    });
  }
  return { runs, text: texts.join('\n') };
}

const { WorkflowTaskFailedCause, PendingWorkflowTaskState, TimeoutType } = proto.temporal.api.enums.v1;

/**
 * workflowTaskTrouble says why a workflow may not be answering (for a test's failure message):
 * its pending workflow task and attempt, and the failed or timed-out workflow tasks of its
 * current run, with their causes. Empty when there is nothing to say.
 */
export async function workflowTaskTrouble(client: Client, workflowId: string): Promise<string> {
  const lines: string[] = [];
  const handle = client.workflow.getHandle(workflowId);
  const { raw } = await handle.describe();
  const pending = raw.pendingWorkflowTask;
  if (pending) {
    lines.push(`pending workflow task: ${PendingWorkflowTaskState[pending.state ?? 0]}, attempt ${pending.attempt}`);
  }
  for (const activity of raw.pendingActivities ?? []) {
    if ((activity.attempt ?? 1) > 1) {
      lines.push(
        `activity ${activity.activityType?.name} attempt ${activity.attempt}: ${activity.lastFailure?.message ?? ''}`,
      );
    }
  }
  for (const event of (await handle.fetchHistory()).events ?? []) {
    const failed = event.workflowTaskFailedEventAttributes;
    if (failed) {
      const cause = WorkflowTaskFailedCause[failed.cause ?? 0];
      lines.push(`event ${event.eventId}: workflow task failed, ${cause}: ${failed.failure?.message ?? ''}`);
    }
    const timedOut = event.workflowTaskTimedOutEventAttributes;
    if (timedOut) {
      lines.push(`event ${event.eventId}: workflow task timed out, ${TimeoutType[timedOut.timeoutType ?? 0]}`);
    }
  }
  return lines.join('\n');
}
