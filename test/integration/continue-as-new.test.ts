/**
 * Long newsletters continue as new: a dev server told to suggest continue-as-new after
 * a short history makes the workflow carry its progress across several runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { workflowIdFor } from '../../src/domain/types.ts';
import { eventually, steady } from '../support/eventually.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { type Stack, startStack } from './harness.ts';

describe('continue-as-new', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack(
      { NEWSLETTER_BATCH_SIZE: '10', EMAIL_CONCURRENCY_LIMIT: '3' },
      ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=60'],
    );
  });
  after(async () => {
    await stack?.close();
  });

  /** memoState is the state the newsletter's current run keeps in its memo. */
  const memoState = async (id: string) =>
    (await stack.env.client.workflow.getHandle(workflowIdFor(id)).describe()).memo?.['state'];

  it('carries progress across runs and sends every recipient exactly once', async () => {
    const id = newsletterId('long');
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(300, 'l'), {
        subject: 'Hi {{name}}',
        htmlContent: '',
        textContent: 'Hello {{name}}',
      }),
      stack.auth,
    );
    const status = await eventually(async () => {
      const s = (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status!;
      return s.state === NewsletterState.COMPLETED ? s : undefined;
    }, 180_000);
    assert.equal(status.sent, 300);
    assert.equal(status.batchesCompleted, 30);
    assert.equal(status.batchesTotal, 30);
    const received = stack.mock.resend.received();
    assert.equal(received.length, 300);
    assert.equal(new Set(received.map((e) => e.to[0])).size, 300);

    const runs = [];
    for await (const run of stack.env.client.workflow.list({ query: `WorkflowId = '${workflowIdFor(id)}'` })) {
      runs.push(run);
    }
    assert.ok(runs.length > 1, `expected several runs, got ${runs.length}`);
    const events = await eventually(() => {
      const e = stack.backend.eventsFor(id);
      return e.some((x) => x.event_id.endsWith(':final')) ? e : undefined;
    });
    // At least once, in order: a callback in flight at a continue-as-new goes again from the next run.
    assert.deepEqual([...new Set(events.map((e) => e.event_id))], [`${id}:started`, `${id}:final`]);
    const results = stack.backend.resultsFor(id);
    assert.equal(results.length, 30);
    assert.equal(new Set(results.map((e) => e.event_id)).size, 30, 'no results callback twice');
  });

  const runsOf = async (id: string) => {
    const runs = [];
    for await (const run of stack.env.client.workflow.list({ query: `WorkflowId = '${workflowIdFor(id)}'` })) {
      runs.push(run);
    }
    return runs;
  };
  const statusOf = async (id: string) =>
    (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status!;

  it('pages a backend list across runs, and pause, resume, status and WatchNewsletter work across them', async () => {
    const id = newsletterId('long-list');
    stack.backend.setList('long-list', recipients(600, 'll'));
    stack.mock.resend.setLatency(150); // slow enough that the pause and the cancel land mid-send
    const watched: number[] = [];
    try {
      await stack.newsletters.sendNewsletter(
        newsletterRequest(id, [], {
          recipientSource: { source: { oneofKind: 'backendList', backendList: { listId: 'long-list' } } },
        }),
        stack.auth,
      );
      const watching = (async () => {
        for await (const m of stack.newsletters.watchNewsletter({ newsletterId: id }, stack.auth).responses) {
          watched.push(m.status!.sent);
        }
      })();
      await eventually(async () => (await runsOf(id)).length >= 2, 60_000, 200);
      const paused = (await stack.newsletters.pauseNewsletter({ newsletterId: id }, stack.auth).response).status!;
      assert.equal(paused.state, NewsletterState.PAUSED);
      // Batches in flight when the pause came still land: wait until they have.
      const during = await steady(() => stack.mock.resend.received().filter((e) => e.to[0]!.startsWith('ll')).length);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(stack.mock.resend.received().filter((e) => e.to[0]!.startsWith('ll')).length, during, 'paused');
      assert.equal((await statusOf(id)).state, NewsletterState.PAUSED);
      // The state is in the memo of the run that holds it now (what the bridge's count of open newsletters reads).
      assert.equal(await memoState(id), 'PAUSED');
      await stack.newsletters.resumeNewsletter({ newsletterId: id }, stack.auth);
      await eventually(
        async () => (await memoState(id)) === 'RUNNING' || (await memoState(id)) === 'COMPLETED',
        10_000,
      );
      await watching;
      const final = await statusOf(id);
      assert.equal(final.state, NewsletterState.COMPLETED);
      assert.deepEqual([final.totalRecipients, final.sent, final.batchesTotal], [600, 600, 60]);
      assert.equal(watched.at(-1), 600, 'WatchNewsletter followed the newsletter to its end across runs');
      assert.deepEqual(watched, [...watched].sort((a, b) => a - b));
      const received = stack.mock.resend.received().filter((e) => e.to[0]!.startsWith('ll'));
      assert.equal(new Set(received.map((e) => e.to[0])).size, 600);
      assert.equal(received.length, 600, 'nobody twice across runs');
      assert.ok((await runsOf(id)).length > 2);
    } finally {
      stack.mock.resend.setLatency(0);
    }
  });

  it('cancels across runs with true counts', async () => {
    const id = newsletterId('long-cancel');
    stack.mock.resend.setLatency(150); // slow enough that the pause and the cancel land mid-send
    try {
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(600, 'lc')), stack.auth);
      await eventually(async () => (await runsOf(id)).length >= 2, 60_000, 200);
      const cancelled = (await stack.newsletters.cancelNewsletter({ newsletterId: id, reason: 'test' }, stack.auth)
        .response).status!;
      assert.equal(cancelled.state, NewsletterState.CANCELLED);
      const sent = stack.mock.resend.received().filter((e) => e.to[0]!.startsWith('lc')).length;
      assert.equal(cancelled.sent, sent);
      assert.equal(cancelled.sent + cancelled.failed + cancelled.skipped, 600);
      assert.ok(cancelled.skipped > 0);
    } finally {
      stack.mock.resend.setLatency(0);
    }
  });

  it('keeps waiting for owed callbacks across runs after the final state, then closes', async () => {
    const id = newsletterId('long-owed');
    stack.backend.failNext(1_000_000, 503);
    try {
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(300, 'lo')), stack.auth);
      const final = await eventually(async () => {
        const s = await statusOf(id);
        return s.state === NewsletterState.COMPLETED ? s : undefined;
      }, 120_000);
      assert.ok(final.callbacksOwed > 0, 'results and the final event are still owed');
    } finally {
      stack.backend.failNext(0, 503);
    }
    const handle = stack.env.client.workflow.getHandle(workflowIdFor(id));
    await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 180_000, 500);
    assert.equal((await statusOf(id)).callbacksOwed, 0);
    // At least once, in order: a callback in flight when the run continues as new goes again from the
    // next run (the backend drops the repeat by event_id).
    const events = [...new Set(stack.backend.eventsFor(id).map((e) => e.event_id))];
    assert.deepEqual(events, [`${id}:started`, `${id}:final`]);
    const results = stack.backend.resultsFor(id);
    assert.equal(new Set(results.map((e) => e.event_id)).size, 30);
    assert.equal(new Set(results.flatMap((e) => e.results.map((r) => r.recipient_id))).size, 300);
  });

  /** resultsWorkflowsOf waits until the newsletter has n results workflows running, and names them. */
  const resultsWorkflowsOf = (id: string, n: number) =>
    eventually(
      async () => {
        const found = [];
        const query = `WorkflowType = 'newsletterResultsWorkflow' AND ExecutionStatus = 'Running'`;
        for await (const w of stack.env.client.workflow.list({ query })) {
          if (w.workflowId.includes(id)) found.push(w.workflowId);
        }
        return found.length === n ? found : undefined;
      },
      60_000,
      200,
    );
  /** completed waits until the newsletter's status is COMPLETED (its final callbacks may still be owed). */
  const completed = (id: string) =>
    eventually(
      async () => {
        const s = await statusOf(id);
        return s.state === NewsletterState.COMPLETED ? s : undefined;
      },
      60_000,
      200,
    );

  /**
   * whileResultsOwed sends a newsletter of 20 whose results the backend refuses (503) and hands its two
   * results workflows to act; the backend takes callbacks again once act is done.
   */
  const whileResultsOwed = async (id: string, prefix: string, act: (owing: string[]) => Promise<void>) => {
    stack.backend.failNext(1_000_000, 503);
    try {
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(20, prefix)), stack.auth);
      await act(await resultsWorkflowsOf(id, 2));
    } finally {
      stack.backend.failNext(0, 503);
    }
  };

  it('runs results workflows on a task queue of their own, so a storm of them does not hold up the newsletters; the status names what is owed', async () => {
    const id = newsletterId('owed-queue');
    const client = stack.env.client;
    const queues: string[] = [];
    await whileResultsOwed(id, 'oq', async (owing) => {
      for (const workflowId of owing) queues.push((await client.workflow.getHandle(workflowId).describe()).taskQueue);
      // The lifecycle events by the id the backend will get, the results by count: each in the results
      // workflow named after its event, as the status's comment says to find them.
      const done = await completed(id);
      assert.deepEqual(
        [done.owedEvents, done.owedResults, done.callbacksOwed],
        [[`${id}:started`, `${id}:final`], 2, 4],
      );
      assert.ok(owing.every((w) => w.startsWith(`newsletter-results-${id}:results:`)), owing.join(', '));
    });
    const main = stack.config.temporal.taskQueue;
    assert.deepEqual(queues, [`${main}-results`, `${main}-results`]);
    assert.equal((await client.workflow.getHandle(workflowIdFor(id)).describe()).taskQueue, main);
    // Served: the backend back, both report, and the newsletter closes.
    const handle = client.workflow.getHandle(workflowIdFor(id));
    await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 120_000, 500);
    assert.equal((await statusOf(id)).callbacksOwed, 0);
  });

  it('closes when an operator cancels a results workflow it waits for: the cancelled workflow still reports back', async () => {
    const id = newsletterId('owed-cancelled');
    const client = stack.env.client;
    await whileResultsOwed(id, 'oc', async (owing) => {
      const done = await completed(id);
      // Someone cancels them from the Temporal UI: their results are not delivered, and not owed any more either.
      for (const workflowId of owing) await client.workflow.getHandle(workflowId).cancel();
      await eventually(
        async () => (await statusOf(id)).callbacksOwed === done.callbacksOwed - 2 || undefined,
        30_000,
        200,
      );
    });
    const handle = client.workflow.getHandle(workflowIdFor(id));
    await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 60_000, 500);
    assert.deepEqual([(await statusOf(id)).state, (await statusOf(id)).callbacksOwed], [NewsletterState.COMPLETED, 0]);
  });

  it('closes when an operator terminates a results workflow it waits for: none runs any more, what it owed is written off', async () => {
    const id = newsletterId('owed-terminated');
    const client = stack.env.client;
    await whileResultsOwed(id, 'ot', async (owing) => {
      // Terminated from the Temporal UI: no code of theirs runs, nobody reports back.
      for (const workflowId of owing) await client.workflow.getHandle(workflowId).terminate('operator');
      await completed(id);
    });
    const handle = client.workflow.getHandle(workflowIdFor(id));
    await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 120_000, 500);
    assert.deepEqual([(await statusOf(id)).state, (await statusOf(id)).callbacksOwed], [NewsletterState.COMPLETED, 0]);
  });
});
