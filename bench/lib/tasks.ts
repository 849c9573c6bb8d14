/**
 * What became of a workflow run's tasks, read from its history: how long the longest completed
 * one ran (started → completed), and which failed or timed out. Temporal records only the first
 * failed attempt of a task that keeps failing (later attempts are not written until one completes),
 * so a failure listed here may stand for several.
 */
import { tsToMs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const { WorkflowTaskFailedCause } = proto.temporal.api.enums.v1;

/** TaskOutcomes sums up the workflow tasks of one or more runs. */
export interface TaskOutcomes {
  longestMs: number;
  completed: number;
  /** decidedAgain: failed as UnhandledCommand, the server having a task that closed the run decide again (no fault). */
  decidedAgain: number;
  /** failures: every other task failed or timed out, with how long it ran and why. */
  failures: string[];
}

export const noTasks = (): TaskOutcomes => ({ longestMs: 0, completed: 0, decidedAgain: 0, failures: [] });

/** addTasks adds what became of the tasks of one run's history to outcomes. */
export function addTasks(outcomes: TaskOutcomes, events: HistoryEvent[]): TaskOutcomes {
  let started: number | undefined;
  const ran = (at: number) => started === undefined ? 'an unknown time' : `${at - started} ms`;
  for (const event of events) {
    const at = tsToMs(event.eventTime);
    if (event.workflowTaskStartedEventAttributes) {
      started = at;
      continue;
    }
    if (event.workflowTaskCompletedEventAttributes) {
      outcomes.completed += 1;
      if (started !== undefined) outcomes.longestMs = Math.max(outcomes.longestMs, at - started);
    } else if (event.workflowTaskFailedEventAttributes) {
      const { cause, failure } = event.workflowTaskFailedEventAttributes;
      if (cause === WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND) outcomes.decidedAgain += 1;
      else {outcomes.failures.push(
          `failed after ${ran(at)}: ${failure?.message ?? WorkflowTaskFailedCause[cause ?? 0]}`,
        );}
    } else if (event.workflowTaskTimedOutEventAttributes) {
      outcomes.failures.push(`timed out after ${ran(at)}`);
    } else {
      continue;
    }
    started = undefined;
  }
  return outcomes;
}
