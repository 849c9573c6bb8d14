import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { BackendCallbackError, type BackendClient } from '../backend/client.ts';
import type { ResultsEvent } from '../domain/types.ts';
import { createLogger } from '../logger.ts';
import { type CallbackDeps, reportResults, type ResultsHandoff } from './callbacks.ts';

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

const deps = (client: BackendClient, results: ResultsHandoff): CallbackDeps => ({
  backend: client,
  logger: createLogger('silent'),
  handoff: results,
  resultsTimeoutMs: 1_000,
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
});
