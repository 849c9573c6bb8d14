/**
 * Safe deploys: every history recorded from a release (`test/replay/histories/<release>/`,
 * written by `record.ts`) replays with the workflow code of this checkout. A change that
 * would make a running or paused newsletter fail its next workflow task after a deploy
 * (non-determinism) fails here; such a change goes behind `patched()`. A folder named by a
 * commit holds a history record.ts wrote from that commit, before a workflow change no
 * release's histories covered (`25a767f/`: the events workflow posting its batches in place,
 * through a backend outage, before batches went to child workflows; `f8a9862/`: every situation
 * again, and a throttled newsletter, an outage waited out, results owed at the end and a scheduled
 * one, through the paths later `patched()` branches opened, which v0.1.0's histories predate;
 * `f910f49/`: every situation through the results write-off and the pause/resume bookkeeping,
 * with results workflows terminated and a resume during a cancel; `46c6ffc/`: every situation with
 * the lifecycle counted by the sink, no local activity; `5ffd58e/`: every situation with the provider
 * queues drained before the requests where they idled, and not where another newsletter had just drained them).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import proto from '@temporalio/proto';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { dataConverter } from '../../src/data-converter.ts';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../src/telemetry/temporal-tracing.ts';
import { workflowsPath } from '../../src/worker/worker.ts';
import { lifecycleSinks } from '../../src/telemetry/lifecycle-sink.ts';
import { silentLogger } from '../support/fixtures.ts';

const root = new URL('./histories/', import.meta.url);
const { History } = proto.temporal.api.history.v1;

/** recorded lists every history file as release/file. */
function recorded(): string[] {
  return readdirSync(root).flatMap((release) =>
    readdirSync(new URL(`${release}/`, root)).filter((f) => f.endsWith('.binpb')).map((f) => `${release}/${f}`)
  );
}

describe('replay of recorded histories', { timeout: 120_000 }, () => {
  it('replays every history recorded from a release with the current workflow code', async () => {
    const files = recorded();
    // delivered, failed over, paused itself and resumed, paused and cancelled, backend list, continued as new.
    assert.ok(files.length >= 6, `expected the recorded histories, found ${files.length}`);
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath,
      workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
      logger: silentLogger,
    });
    const histories = files.map((file) => ({
      workflowId: file,
      history: History.decode(readFileSync(new URL(file, root))),
    }));
    const failures: string[] = [];
    let replayed = 0;
    // Sinks are not called while replaying; registered, the SDK does not log each call as to an unknown sink
    // (the lifecycle counts, and the OpenTelemetry interceptors' span export).
    const sinks = { ...lifecycleSinks(undefined), exporter: { export: { fn: () => {} } } };
    for await (const result of Worker.runReplayHistories({ workflowBundle, dataConverter, sinks }, histories)) {
      replayed += 1;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.equal(replayed, files.length);
    assert.deepEqual(failures, []);
  });
});
