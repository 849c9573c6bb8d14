import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { msToTs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';
import { addTasks, noTasks } from './tasks.ts';

const { WorkflowTaskFailedCause } = proto.temporal.api.enums.v1;
const at = (ms: number) => msToTs(ms);

describe('workflow task outcomes from a history', () => {
  it('times the longest completed task, lists real failures, and counts UnhandledCommand apart', () => {
    const events = [
      { eventTime: at(1_000), workflowTaskStartedEventAttributes: {} },
      {
        eventTime: at(8_100),
        workflowTaskFailedEventAttributes: {
          cause: WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
          failure: { message: 'Script execution timed out after 5000ms' },
        },
      },
      { eventTime: at(9_000), workflowTaskStartedEventAttributes: {} },
      { eventTime: at(14_900), workflowTaskCompletedEventAttributes: {} },
      { eventTime: at(15_000), workflowTaskStartedEventAttributes: {} },
      {
        eventTime: at(15_300),
        workflowTaskFailedEventAttributes: {
          cause: WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
        },
      },
      { eventTime: at(16_000), workflowTaskStartedEventAttributes: {} },
      { eventTime: at(16_200), workflowTaskCompletedEventAttributes: {} },
      // A timeout with no start before it (none since the last task closed): no made-up duration.
      { eventTime: at(30_000), workflowTaskTimedOutEventAttributes: {} },
    ];
    assert.deepEqual(addTasks(noTasks(), events), {
      longestMs: 5_900,
      completed: 2,
      decidedAgain: 1,
      failures: ['failed after 7100 ms: Script execution timed out after 5000ms', 'timed out after an unknown time'],
    });
  });

  it('names the cause of a failure that carries no message', () => {
    const events = [
      { eventTime: at(0), workflowTaskStartedEventAttributes: {} },
      {
        eventTime: at(10),
        workflowTaskFailedEventAttributes: {
          cause: WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
        },
      },
    ];
    assert.deepEqual(addTasks(noTasks(), events).failures, [
      'failed after 10 ms: WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR',
    ]);
  });
});
