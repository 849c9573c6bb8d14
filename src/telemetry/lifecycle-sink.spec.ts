import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowInfo } from '@temporalio/workflow';
import { createMetrics } from './metrics.ts';
import { lifecycleSinks } from './lifecycle-sink.ts';

describe('lifecycleSinks', () => {
  it('counts sending begun and ended in the worker metrics, and is set not to be called while a workflow replays', async () => {
    const metrics = createMetrics('worker');
    const { count } = lifecycleSinks(metrics).lifecycle;
    const info = {} as WorkflowInfo;
    count.fn(info, { began: true });
    count.fn(info, { finished: 'COMPLETED_WITH_FAILURES' });
    const text = await metrics.registry.metrics();
    assert.match(text, /^newsletter_newsletters_started_total\{role="worker"\} 1$/m);
    assert.match(text, /^newsletter_newsletters_finished_total\{state="COMPLETED_WITH_FAILURES",role="worker"\} 1$/m);
    assert.equal(count.callDuringReplay, false);
  });
});
