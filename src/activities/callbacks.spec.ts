import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { BackendCallbackError, type BackendClient } from '../backend/client.ts';
import type { ResultsEvent } from '../domain/types.ts';
import { createLogger } from '../logger.ts';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { SpanStatusCode } from '@opentelemetry/api';
import { setupTracing } from '../telemetry/tracing.ts';
import type { DeliveryMetrics } from '../telemetry/metrics.ts';
import {
  type CallbackDeps,
  createCallbackActivities,
  DirectResults,
  reportResults,
  type ResultsHandoff,
} from './callbacks.ts';

const event: ResultsEvent = {
  event_id: 'nl1:results:b4-resend',
  newsletter_id: 'nl1',
  batch: 4,
  results: [{ recipient_id: 'r0', email: 'u0@example.com', provider: 'resend', status: 'sent', message_id: 'm0' }],
};

/** handoff stands in for the results workflows: whether one exists for the event, which get started. */
function handoff(existing: 'running' | 'closed' | 'none'): ResultsHandoff & { started: string[] } {
  const started: string[] = [];
  return {
    started,
    exists: () => Promise.resolve(existing !== 'none'),
    running: () => Promise.resolve(0),
    start: (e) => {
      if (existing === 'closed') return Promise.resolve(false);
      started.push(e.event_id);
      return Promise.resolve(true);
    },
  };
}

function backend(answer: 'ok' | 'down') {
  const posted: string[] = [];
  const client: BackendClient = {
    enabled: true,
    postStatus: () => Promise.resolve(),
    postResults: (e) => {
      posted.push(e.event_id);
      return answer === 'ok' ? Promise.resolve() : Promise.reject(new BackendCallbackError('down', 503, true));
    },
    postEvents: () => Promise.resolve(),
    fetchRecipientPage: () => Promise.reject(new Error('not used')),
  };
  return { client, posted };
}

const deps = (client: BackendClient, results: ResultsHandoff, direct = new DirectResults(1_000)): CallbackDeps => ({
  backend: client,
  logger: createLogger('silent'),
  handoff: results,
  direct,
});

describe('reportResults', () => {
  it('posts the results at once when the backend takes them: nothing owed', async () => {
    const { client, posted } = backend('ok');
    const owed = await new MockActivityEnvironment({ attempt: 1 }).run(
      reportResults,
      deps(client, handoff('none')),
      event,
    );
    assert.equal(owed, false);
    assert.deepEqual(posted, [event.event_id]);
  });

  it('hands the results to a results workflow when the backend does not take them: owed', async () => {
    const { client } = backend('down');
    const results = handoff('none');
    const owed = await new MockActivityEnvironment({ attempt: 1 }).run(reportResults, deps(client, results), event);
    assert.equal(owed, true);
    assert.deepEqual(results.started, [event.event_id]);
  });

  for (const existing of ['running', 'closed'] as const) {
    it(`counts results owed on a retry whose earlier attempt handed them off (results workflow ${existing}), without posting them again`, async () => {
      // The results workflow reports back to the newsletter once, whichever attempt started it:
      // the attempt that completes must count the hand-off, or the newsletter could close early.
      const { client, posted } = backend('ok');
      const owed = await new MockActivityEnvironment({ attempt: 2 }).run(
        reportResults,
        deps(client, handoff(existing)),
        event,
      );
      assert.equal(owed, true);
      assert.deepEqual(posted, []);
    });
  }

  it("posts a retry's results itself when no earlier attempt handed them off", async () => {
    const { client, posted } = backend('ok');
    const owed = await new MockActivityEnvironment({ attempt: 3 }).run(
      reportResults,
      deps(client, handoff('none')),
      event,
    );
    assert.equal(owed, false);
    assert.deepEqual(posted, [event.event_id]);
  });

  it('hands results off at once for a while after the backend did not take them in time, then lets one send find out whether it is back', async () => {
    // Each send would otherwise hold its place in the newsletter's window for resultsTimeoutMs first.
    let now = 0;
    const direct = new DirectResults(1_000, 30_000, () => now);
    let answer: 'ok' | 'down' | 'hang' = 'down';
    const posted: string[] = [];
    let finish!: () => void;
    const client: BackendClient = {
      ...backend('ok').client,
      postResults: (e) => {
        posted.push(e.event_id);
        if (answer === 'hang') return new Promise<void>((resolve) => (finish = resolve));
        return answer === 'ok' ? Promise.resolve() : Promise.reject(new BackendCallbackError('slow', 504, true));
      },
    };
    const results = handoff('none');
    const report = () =>
      new MockActivityEnvironment({ attempt: 1 }).run(reportResults, deps(client, results, direct), event);
    assert.equal(await report(), true);
    assert.equal(await report(), true);
    assert.deepEqual([posted.length, results.started.length], [1, 2], 'the second send did not wait on the backend');
    now += 30_000;
    answer = 'hang';
    const probe = report();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await report(), true, 'while one send finds out, the others hand theirs off');
    assert.equal(posted.length, 2);
    finish();
    assert.equal(await probe, false, 'the backend took it: nothing owed');
    answer = 'ok';
    assert.equal(await report(), false);
    assert.equal(posted.length, 3, 'back: every send posts its own results again');
  });

  it('counts a failed direct post as a retry and a hand-off without a post as handed_off: the callbacks alert counts failures, not a backend held back', async () => {
    const direct = new DirectResults(1_000, 30_000, () => 0);
    const outcomes: string[] = [];
    const metrics = { callback: (outcome: string) => outcomes.push(outcome) } as unknown as DeliveryMetrics;
    const report = () =>
      new MockActivityEnvironment({ attempt: 1 }).run(
        reportResults,
        { ...deps(backend('down').client, handoff('none'), direct), metrics },
        event,
      );
    assert.equal(await report(), true);
    assert.equal(await report(), true);
    assert.deepEqual(outcomes, ['retry', 'handed_off']);
  });

  it('does not hand off the results of an attempt abandoned while it posted them: its retry reports them', async () => {
    // A hand-off now would start a results workflow after the retry had posted them, and tell the
    // newsletter one more hand-off settled than it counted.
    const env = new MockActivityEnvironment({ attempt: 1 });
    const client: BackendClient = {
      ...backend('ok').client,
      postResults: (_e, options) =>
        new Promise<void>((_resolve, reject) =>
          options?.signal?.addEventListener('abort', () => reject(new BackendCallbackError('aborted', 0, true)))
        ),
    };
    const results = handoff('none');
    const reported = env.run(reportResults, deps(client, results), event);
    await new Promise((resolve) => setImmediate(resolve));
    env.cancel();
    await assert.rejects(reported);
    assert.deepEqual(results.started, []);
  });
});

describe('callback spans', () => {
  it('records a callback the backend refuses for good as an error, with its status: it is dropped', async () => {
    const spans = new InMemorySpanExporter();
    const tracing = setupTracing({ serviceName: 'callbacks-spec', otlp: false, exporter: spans });
    try {
      const client: BackendClient = {
        ...backend('ok').client,
        postStatus: () => Promise.reject(new BackendCallbackError('conflict', 409, false)),
      };
      const { notifyBackend } = createCallbackActivities(deps(client, handoff('none')));
      const outcome = await new MockActivityEnvironment({ attempt: 1 }).run(
        notifyBackend,
        {
          event_id: 'nl1:started',
          newsletter_id: 'nl1',
          state: 'RUNNING',
        } as Parameters<typeof notifyBackend>[0],
      );
      assert.equal(outcome, 'rejected');
      const span = spans.getFinishedSpans().find((s) => s.name === 'backend status callback')!;
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.match(span.status.message ?? '', /409/);
      assert.equal(span.attributes['http.response.status_code'], 409);
    } finally {
      await tracing.shutdown();
    }
  });
});
