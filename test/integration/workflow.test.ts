/**
 * The newsletter workflow on its own, on a real Temporal dev server, with stand-in
 * activities to force situations the mock providers cannot easily produce: a batch that
 * one provider partly accepted before every provider refused, then a cancel during the
 * wait for the next try. Also replays
 * the recorded history to catch non-determinism.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import {
  type BackendEvent,
  FAILURE_TYPES,
  type NewsletterInput,
  PROVIDERS,
  providerTaskQueue,
  type ProviderUnavailableDetails,
  type SendBatchInput,
  type ThrottledDetails,
  workflowIdFor,
} from '../../src/domain/types.ts';
import { createPageActivities } from '../../src/activities/pages.ts';
import { workflowsPath } from '../../src/worker/worker.ts';
import { cancelUpdate, getStatusQuery, newsletterWorkflow, pauseUpdate } from '../../src/workflows/newsletter.ts';
import { newsletterResultsWorkflow } from '../../src/workflows/results.ts';
import { lifecycleSinks } from '../../src/telemetry/lifecycle-sink.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterInput, recipients, silentLogger } from '../support/fixtures.ts';
import { temporalCli } from './harness.ts';

describe('newsletter workflow', { timeout: 180_000 }, () => {
  let env: TestWorkflowEnvironment;
  let workflowBundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
  before(async () => {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporalCli() },
        ip: '127.0.0.1',
        extraArgs: ['--headless'],
      },
    });
    workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: silentLogger });
  });
  after(async () => {
    await env?.teardown();
  });

  /** withWorkers runs fn while a workflow worker (with these activities) and a sendBatch worker per provider poll taskQueue. */
  async function withWorkers(
    taskQueue: string,
    activities: object,
    sendBatch: (input: SendBatchInput) => Promise<unknown>,
    fn: () => Promise<void>,
  ): Promise<void> {
    const [main, ...senders] = await Promise.all([
      Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle,
        // The workflow counts its sending begun and ended through the lifecycle sink: nothing to count here.
        sinks: lifecycleSinks(undefined),
        activities,
      }),
      ...PROVIDERS.map((provider) =>
        Worker.create({
          connection: env.nativeConnection,
          taskQueue: providerTaskQueue(taskQueue, provider),
          activities: { sendBatch },
        })
      ),
    ]);
    const running = senders.map((w) => w.run());
    try {
      await main!.runUntil(fn);
    } finally {
      for (const w of senders) w.shutdown();
      await Promise.all(running);
    }
  }

  /** withNewsletter starts input on a task queue of its own, with these stand-ins polling it, and runs check on its handle. */
  async function withNewsletter(
    input: NewsletterInput,
    activities: object,
    sendBatch: (input: SendBatchInput) => Promise<unknown>,
    check: (handle: Awaited<ReturnType<typeof startNewsletter>>) => Promise<void>,
  ): Promise<void> {
    const taskQueue = `wf-${randomUUID()}`;
    await withWorkers(taskQueue, activities, sendBatch, async () => check(await startNewsletter(taskQueue, input)));
  }

  /** startNewsletter starts a newsletter workflow on the task queue under a fresh id. */
  const startNewsletter = (taskQueue: string, input: NewsletterInput) =>
    env.client.workflow.start(newsletterWorkflow, { args: [input], taskQueue, workflowId: `wf-${randomUUID()}` });

  /** resultWithin is the workflow's result, or undefined when it has none within ms. */
  const resultWithin = <T>(handle: { result(): Promise<T> }, ms: number) =>
    Promise.race([handle.result(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms))]);

  /** sentBy is a request a provider settled: count recipients sent. */
  const sentBy = (provider: string, count: number) =>
    Promise.resolve({ provider, sent: count, failed: 0, failures: [], resultsOwed: false });

  /** refusing is the ProviderUnavailable failure an activity throws with these details. */
  const refusing = (details: ProviderUnavailableDetails) =>
    ApplicationFailure.create({ type: 'ProviderUnavailable', nonRetryable: true, details: [details] });

  /** throttledFor is a request a provider throttled, to go again after retryAfterMs. */
  const throttledFor = (retryAfterMs: number) =>
    Promise.reject(
      ApplicationFailure.create({
        type: FAILURE_TYPES.throttled,
        nonRetryable: true,
        details: [{ retryAfterMs } satisfies ThrottledDetails],
      }),
    );

  /** postmarkRefuses is Postmark refusing a whole backend page, naming its recipients by key. */
  const postmarkRefuses = (keys: number[]) =>
    Promise.reject(refusing({
      provider: 'postmark',
      reason: 'postmark gave up',
      settled: { provider: 'postmark', sent: 0, failed: 0, failures: [], resultsOwed: false },
      remaining: keys.map((_, i) => i),
      remainingMembers: keys,
    }));

  it('counts recipients a provider accepted before every provider refused, when cancelled while waiting out the outage', async () => {
    const unavailable = (input: SendBatchInput, accepted: number) => {
      const wanted = input.positions ?? Array.from({ length: input.batch.count }, (_, i) => i);
      const details: ProviderUnavailableDetails = {
        provider: input.provider,
        reason: `${input.provider} gave up`,
        settled: { provider: input.provider, sent: accepted, failed: 0, failures: [], resultsOwed: false },
        remaining: wanted.slice(accepted),
      };
      return refusing(details);
    };
    // Resend accepts the first 3 recipients of the batch and then becomes unavailable; Postmark refuses all.
    const sendBatch = (input: SendBatchInput) =>
      Promise.reject(unavailable(input, input.provider === 'resend' ? 3 : 0));
    const input = newsletterInput('partial', { recipients: recipients(10, 'w') });
    await withNewsletter(input, { notifyBackend: () => Promise.resolve('disabled') }, sendBatch, async (handle) => {
      // The first try after every provider refused is 15 s away: the cancel comes first.
      const waiting = await eventually(async () => {
        const s = await handle.query(getStatusQuery);
        return s.reason?.startsWith('waiting:') ? s : undefined;
      }, 30_000);
      assert.equal(waiting.state, 'RUNNING');
      assert.match(waiting.reason ?? '', /every provider refused batch 0/);
      const cancelled = await handle.executeUpdate(cancelUpdate, { args: ['stop'] });
      assert.equal(cancelled.state, 'CANCELLED');
      const final = await handle.result();
      assert.equal(final.sent, 3, 'the recipients Resend accepted are sent, not skipped');
      assert.equal(final.skipped, 7);
      assert.equal(final.batchesCompleted, 0);
      assert.deepEqual(final.sentByProvider, { resend: 3 });

      // The recorded history replays against the current workflow code.
      await Worker.runReplayHistory({ workflowBundle, sinks: lifecycleSinks(undefined) }, await handle.fetchHistory());
    });
  });

  it('waits out an outage of every provider 15 s, then tries one batch at a time, doubling the wait while they still refuse', async () => {
    // Times on the stand-in's own clock, not when the test happens to read the status.
    const calls: Array<{ batch: number; provider: string; at: number; end: number }> = [];
    // Every provider refuses every request, after 100 ms.
    const sendBatch = async (input: SendBatchInput) => {
      const at = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 100));
      calls.push({ batch: input.batch.index, provider: input.provider, at, end: Date.now() });
      throw refusing({
        provider: input.provider,
        reason: `${input.provider} is down`,
        settled: { provider: input.provider, sent: 0, failed: 0, failures: [], resultsOwed: false },
        remaining: input.positions ?? Array.from({ length: input.batch.count }, (_, i) => i),
      });
    };
    const input = newsletterInput('outage-pace', { recipients: recipients(12, 'op-'), batchSize: 2, concurrency: 3 });
    /** nextTry reads the time of the next try from a waiting newsletter's reason (whole seconds, UTC). */
    const nextTry = (reason: string) => {
      const [, time] = reason.match(/next try (\d\d:\d\d:\d\d) UTC/) ?? [];
      assert.ok(time, reason);
      const at = Date.parse(`${new Date().toISOString().slice(0, 10)}T${time}Z`);
      return at < Date.now() - 43_200_000 ? at + 86_400_000 : at;
    };
    await withNewsletter(input, { notifyBackend: () => Promise.resolve('disabled') }, sendBatch, async (handle) => {
      const reasonOnce = (test: (reason: string) => boolean) =>
        eventually(
          async () => {
            const reason = (await handle.query(getStatusQuery)).reason ?? '';
            return test(reason) ? reason : undefined;
          },
          40_000,
          100,
        );
      const first = await reasonOnce((r) => r.startsWith('waiting:'));
      const firstTry = nextTry(first);
      // The outage began when the first batch had been refused by both providers.
      const began = Math.min(...calls.filter((c) => c.provider === 'postmark').map((c) => c.end));
      assert.ok(firstTry - began >= 13_500 && firstTry - began <= 16_000, `first wait: ${first}`);
      // The try fails too: the next one is twice as far (30 s after the try).
      const second = await reasonOnce((r) => r.startsWith('waiting:') && r !== first);
      const gap = nextTry(second) - firstTry;
      assert.ok(gap >= 29_000 && gap <= 32_000, `second wait: ${second}`);
      const tried = calls.filter((c) => c.at >= firstTry - 1_000);
      assert.ok(calls.every((c) => c.at < began + 1_000 || c.at >= firstTry - 1_000), 'nothing tried while waiting');
      assert.equal(new Set(tried.map((c) => c.batch)).size, 1, 'one batch was tried, on each provider in turn');
      assert.deepEqual(tried.map((c) => c.provider).sort(), ['postmark', 'resend']);
      const [one, two] = [...tried].sort((a, b) => a.at - b.at);
      assert.ok(two!.at >= one!.end, 'one request at a time');
      await handle.executeUpdate(cancelUpdate, { args: ['stop'] });
      assert.equal((await handle.result()).state, 'CANCELLED');
    });
  });

  it('sends what a provider left of a backend page to the next one by member key, in parts its limit allows', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => 1_000 + i);
    const requests: SendBatchInput[] = [];
    // Postmark refuses the whole page (naming its recipients by key); Resend takes any part.
    const sendBatch = (input: SendBatchInput) => {
      requests.push(input);
      if (input.provider === 'resend') {
        const count = (input.members ?? input.positions ?? []).length;
        return sentBy('resend', count);
      }
      return postmarkRefuses(keys);
    };
    const readPages = () => Promise.resolve({ pages: [{ cursor: '', count: 300 }] });
    const input = newsletterInput('by-member', { listId: 'list-1', batchSize: 300, primaryProvider: 'postmark' });
    await withNewsletter(
      input,
      { notifyBackend: () => Promise.resolve('disabled'), readPages },
      sendBatch,
      async (handle) => {
        const final = await handle.result();
        assert.equal(final.state, 'COMPLETED');
        assert.deepEqual(final.sentByProvider, { resend: 300 });
        const parts = requests.filter((r) => r.provider === 'resend');
        assert.deepEqual(parts.map((r) => [r.positions, r.members?.length]), [
          [undefined, 100],
          [undefined, 100],
          [undefined, 100],
        ]);
        assert.deepEqual(parts.flatMap((r) => r.members).sort((a, b) => a! - b!), keys);
        await Worker.runReplayHistory(
          { workflowBundle, sinks: lifecycleSinks(undefined) },
          await handle.fetchHistory(),
        );
      },
    );
  });

  it('sends every part a provider throttled with a different wait, not only the first: none is left waiting with no timer', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => 1_000 + i);
    const waits = [100, 1_500, 3_000];
    const resendCalls: SendBatchInput[] = [];
    // Postmark refuses the page; Resend throttles each of its three parts once, each with its own wait.
    const sendBatch = (input: SendBatchInput) => {
      if (input.provider === 'postmark') return postmarkRefuses(keys);
      resendCalls.push(input);
      const count = (input.members ?? []).length;
      if ((input.throttles ?? 0) === 0) {
        return throttledFor(waits[resendCalls.length - 1] ?? 100);
      }
      return sentBy('resend', count);
    };
    const readPages = () => Promise.resolve({ pages: [{ cursor: '', count: 300 }] });
    const input = newsletterInput('throttled-apart', { listId: 'list-1', batchSize: 300, primaryProvider: 'postmark' });
    await withNewsletter(
      input,
      { notifyBackend: () => Promise.resolve('disabled'), readPages },
      sendBatch,
      async (handle) => {
        const final = await resultWithin(handle, 20_000);
        assert.equal(final?.state, 'COMPLETED', 'the newsletter completed within 20 s');
        assert.deepEqual(final.sentByProvider, { resend: 300 });
        await Worker.runReplayHistory(
          { workflowBundle, sinks: lifecycleSinks(undefined) },
          await handle.fetchHistory(),
        );
      },
    );
  });

  it("gives a throttled request's place in its window to the next one while it waits out retry-after", async () => {
    // A window of two: a request that kept its place while it waited would leave one place to the
    // other six for the whole 4 s.
    const calls: string[] = [];
    let inFlight = 0;
    let mostWhileWaiting = 0;
    let waiting = false;
    const sendBatch = async (input: SendBatchInput) => {
      const again = (input.throttles ?? 0) > 0;
      calls.push(`${input.batch.index}${again ? ' again' : ''}`);
      if (input.batch.index === 0 && !again) {
        waiting = true;
        return throttledFor(4_000);
      }
      if (again) waiting = false;
      inFlight += 1;
      if (waiting) mostWhileWaiting = Math.max(mostWhileWaiting, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 300));
      inFlight -= 1;
      return sentBy('resend', 2);
    };
    const input = newsletterInput('give-way', { recipients: recipients(14, 'gw-'), batchSize: 2, concurrency: 2 });
    await withNewsletter(input, { notifyBackend: () => Promise.resolve('disabled') }, sendBatch, async (handle) => {
      const final = await resultWithin(handle, 20_000);
      assert.deepEqual([final?.state, final?.sent], ['COMPLETED', 14]);
      assert.equal(calls.at(-1), '0 again', 'the throttled one went again once its wait was over, after the rest');
      assert.equal(mostWhileWaiting, 2, 'both places of the window were in use while it waited');
    });
  });

  it('starts no more new requests than its window while throttled ones wait: the parts waiting stay bounded', async () => {
    // Every request is throttled the first time, for 2 s: a provider far stricter than the queue's rate.
    const calls: SendBatchInput[] = [];
    const sendBatch = (input: SendBatchInput) => {
      calls.push(input);
      if ((input.throttles ?? 0) === 0) return throttledFor(2_000);
      return sentBy('resend', 2);
    };
    const input = newsletterInput('throttled-bounded', {
      recipients: recipients(40, 'tb-'),
      batchSize: 2,
      concurrency: 3,
    });
    await withNewsletter(input, { notifyBackend: () => Promise.resolve('disabled') }, sendBatch, async (handle) => {
      const final = await handle.result();
      assert.deepEqual([final.state, final.sent], ['COMPLETED', 40]);
      // Before the first throttled request went again, at most about two windows' worth (those in
      // flight when the first window's worth waited) had been tried and sent back to wait: the rest
      // of the newsletter (20 requests) did not pile up in the workflow's state.
      const firstAgain = calls.findIndex((c) => (c.throttles ?? 0) > 0);
      assert.ok(firstAgain <= 2 * 3 - 1, `${firstAgain} new requests were tried (and throttled) before any went again`);
      await Worker.runReplayHistory({ workflowBundle, sinks: lifecycleSinks(undefined) }, await handle.fetchHistory());
    });
  });

  it('sends recipients who joined a page after its request left on the same provider, in a request of their own: no failover, no outage wait', async () => {
    const joiner = 9_001;
    const calls: SendBatchInput[] = [];
    // Resend settles the four of the first request and hands back the one who joined the page since.
    const sendBatch = (input: SendBatchInput) => {
      calls.push(input);
      if (input.provider === 'postmark') return postmarkRefuses(input.members ?? []);
      if (!input.members) {
        const details: ProviderUnavailableDetails = {
          provider: 'resend',
          reason: '1 recipients joined the page after its request left: sent in a request of their own',
          settled: { provider: 'resend', sent: 4, failed: 0, failures: [], resultsOwed: false },
          remaining: [4],
          remainingMembers: [joiner],
          pageChanged: true,
        };
        return Promise.reject(refusing(details));
      }
      return sentBy('resend', input.members.length);
    };
    const readPages = () => Promise.resolve({ pages: [{ cursor: '', count: 4 }] });
    const input = newsletterInput('page-grew', { listId: 'list-1', batchSize: 100 });
    await withNewsletter(
      input,
      { notifyBackend: () => Promise.resolve('disabled'), readPages },
      sendBatch,
      async (handle) => {
        const final = await resultWithin(handle, 10_000);
        assert.deepEqual(calls.map((c) => [c.provider, c.members]), [['resend', undefined], ['resend', [joiner]]]);
        assert.equal(final?.state, 'COMPLETED', 'completed at once: no outage wait');
        assert.deepEqual([final.totalRecipients, final.sent, final.skipped], [5, 5, 0]);
        assert.equal(final.reason, undefined);
        await Worker.runReplayHistory(
          { workflowBundle, sinks: lifecycleSinks(undefined) },
          await handle.fetchHistory(),
        );
      },
    );
  });

  it('ends CANCELLED at a cancel while a page read is being retried (the backend down): it does not wait for the read', async () => {
    let reads = 0;
    // The first read answers; every later one fails (503), retried for as long as the backend is down.
    const readPages = () => {
      reads += 1;
      return reads === 1
        ? Promise.resolve({ pages: [{ cursor: '', count: 10 }], nextCursor: 'c1' })
        : Promise.reject(ApplicationFailure.retryable('backend answered 503', 'BackendUnavailable'));
    };
    const sendBatch = () => sentBy('resend', 10);
    const input = newsletterInput('cancel-reading', { listId: 'list-1' });
    await withNewsletter(
      input,
      { notifyBackend: () => Promise.resolve('disabled'), readPages },
      sendBatch,
      async (handle) => {
        await eventually(() => Promise.resolve(reads >= 2 || undefined), 20_000, 50);
        const cancelled = await handle.executeUpdate(cancelUpdate, { args: ['stop'] });
        assert.equal(cancelled.state, 'CANCELLED', 'the cancel answers the final state');
        const final = await handle.result();
        assert.deepEqual([final.state, final.sent], ['CANCELLED', 10]);
      },
    );
  });

  it('ends FAILED, naming the list, when the backend refuses a page it served before (the list deleted): not retried for ever', async () => {
    const readPages = () =>
      Promise.resolve({ pages: [{ cursor: '', count: 10 }, { cursor: 'c1', count: 10 }, { cursor: 'c2', count: 10 }] });
    const sendBatch = (input: SendBatchInput) =>
      input.batch.cursor === 'c1'
        ? Promise.reject(ApplicationFailure.create({
          type: 'BackendListRefused',
          message: 'the backend refused recipient list list-1 (404)',
          nonRetryable: true,
        }))
        : sentBy(input.provider, 10);
    const input = newsletterInput('list-gone', { listId: 'list-1' });
    await withNewsletter(
      input,
      { notifyBackend: () => Promise.resolve('disabled'), readPages },
      sendBatch,
      async (handle) => {
        const final = await handle.result();
        assert.equal(final.state, 'FAILED');
        assert.match(final.reason ?? '', /list-1 \(404\)/);
        assert.deepEqual([final.sent, final.skipped, final.totalRecipients], [20, 10, 30]);
        await Worker.runReplayHistory(
          { workflowBundle, sinks: lifecycleSinks(undefined) },
          await handle.fetchHistory(),
        );
      },
    );
  });

  it('reads no further, and sends nothing of a read under way, once a send found the list gone', async () => {
    const attempted: string[] = [];
    // The second read is under way (slow) when the first page's send finds the list gone.
    const readPages = async (input: { cursor: string }) => {
      if (input.cursor === '') return { pages: [{ cursor: '', count: 10 }], nextCursor: 'c1' };
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      return {
        pages: [{ cursor: input.cursor, count: 10 }, { cursor: `${input.cursor}+`, count: 10 }],
        nextCursor: 'more',
      };
    };
    const sendBatch = (input: SendBatchInput) => {
      attempted.push(input.batch.cursor!);
      return Promise.reject(ApplicationFailure.create({
        type: 'BackendListRefused',
        message: 'the backend refused recipient list list-1 (404)',
        nonRetryable: true,
      }));
    };
    const input = newsletterInput('list-gone-while-reading', { listId: 'list-1' });
    await withNewsletter(
      input,
      { notifyBackend: () => Promise.resolve('disabled'), readPages },
      sendBatch,
      async (handle) => {
        const final = await handle.result();
        assert.deepEqual([final.state, final.totalRecipients, final.skipped], ['FAILED', 10, 10]);
        assert.deepEqual(attempted, [''], 'only the page read before the refusal');
      },
    );
  });

  it('tells the newsletter a results workflow is settled when it is cancelled in the same task its callback succeeds in', async () => {
    const taskQueue = `wf-${randomUUID()}`;
    const newsletter = `results-race-${randomUUID()}`;
    // The newsletter's workflow stands in as one no worker runs: the signals it gets stay in its history.
    const owner = await env.client.workflow.start('newsletterWorkflow', {
      workflowId: workflowIdFor(newsletter),
      taskQueue: `nobody-${randomUUID()}`,
      args: [],
    });
    let release!: () => void;
    let posting!: () => void;
    const posted = new Promise<void>((resolve) => (release = resolve));
    const started = new Promise<void>((resolve) => (posting = resolve));
    // Workflow tasks and activities on workers of their own: the workflow's can stop while the callback ends.
    const activityWorker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      activities: { postResults: () => (posting(), posted) },
    });
    const workflowWorker = () => Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle });
    const activities = activityWorker.run();
    try {
      const event = { event_id: `${newsletter}:results:b0-resend`, newsletter_id: newsletter, batch: 0, results: [] };
      const first = await workflowWorker();
      const handle = await first.runUntil(async () => {
        const h = await env.client.workflow.start(newsletterResultsWorkflow, {
          workflowId: `results-${newsletter}`,
          taskQueue,
          args: [event],
        });
        await started;
        return h;
      });
      // No workflow worker: the callback's success and an operator's cancel wait in one workflow task.
      release();
      await eventually(async () => {
        const { events } = await handle.fetchHistory();
        return events!.some((e) => e.activityTaskCompletedEventAttributes) || undefined;
      }, 10_000);
      await handle.cancel();
      const second = await workflowWorker();
      await second.runUntil(() => handle.result().catch(() => undefined));
      const { events } = await owner.fetchHistory();
      const signals = events!.flatMap((e) => e.workflowExecutionSignaledEventAttributes?.signalName ?? []);
      assert.deepEqual(signals, ['resultsSettled'], 'the newsletter would wait for this count for ever');
    } finally {
      activityWorker.shutdown();
      await activities;
      await owner.terminate();
    }
  });

  it('never follows a next_cursor back to a page an earlier read of the list got: no page is sent twice', async () => {
    // 13 pages; the last one's next_cursor leads back to the third (read two reads of 10 pages earlier).
    const cursors = ['', ...Array.from({ length: 12 }, (_, i) => `c${i + 1}`)];
    const pageAt = new Map(cursors.map((cursor, i) => [cursor, {
      recipients: [{ email: `p${i}@example.com`, name: '', recipientId: `p${i}`, variables: {} }],
      nextCursor: i + 1 < cursors.length ? cursors[i + 1] : 'c2',
    }]));
    let reads = 0;
    const source = {
      definition: () => Promise.reject(new Error('not used')),
      recipients: () => Promise.reject(new Error('not used')),
      forget: () => {},
      page: (_newsletterId: string, _listId: string, cursor: string) => {
        reads += 1;
        return Promise.resolve(pageAt.get(cursor)!);
      },
    };
    const sent: string[] = [];
    const sendBatch = (input: SendBatchInput) => {
      sent.push(input.batch.cursor!);
      return sentBy(input.provider, 1);
    };
    const input = newsletterInput('cursor-loop', { listId: 'list-1', batchSize: 1, concurrency: 2 });
    const { readPages } = createPageActivities({ source });
    await withNewsletter(
      input,
      { notifyBackend: () => Promise.resolve('disabled'), readPages },
      sendBatch,
      async (handle) => {
        // The second read (c10 to c12) meets the loop: refused and retried (the backend may fix it), sending nothing.
        await eventually(() => Promise.resolve(reads >= 10 + 3 * 3 || undefined), 30_000);
        await eventually(() => Promise.resolve(sent.length === 10 || undefined), 10_000);
        assert.deepEqual(sent.sort(), cursors.slice(0, 10).sort(), "the first read's pages, each once");
        const status = await handle.query(getStatusQuery);
        assert.deepEqual([status.state, status.recipientsComplete, status.sent], ['RUNNING', false, 10]);
        await handle.terminate();
      },
    );
  });

  for (const moment of ['a batch in flight', 'paused'] as const) {
    it(`ends CANCELLED with its final callback when Temporal cancels a backend-list newsletter (${moment})`, async () => {
      const events: BackendEvent[] = [];
      let started = 0;
      const sendBatch = async (input: SendBatchInput) => {
        started += 1;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return { provider: input.provider, sent: input.batch.count, failed: 0, failures: [], resultsOwed: false };
      };
      // A list that is still being read when the cancel comes: every read finds one more page.
      let page = 0;
      const readPages = () => Promise.resolve({ pages: [{ cursor: `c${page}`, count: 10 }], nextCursor: `c${++page}` });
      const notifyBackend = (event: BackendEvent) => {
        events.push(event);
        return Promise.resolve('sent');
      };
      const input = newsletterInput(`cancelled-${moment.replaceAll(' ', '-')}`, { listId: 'list-1' });
      await withNewsletter(input, { notifyBackend, readPages }, sendBatch, async (handle) => {
        await eventually(() => Promise.resolve(started > 0 || undefined), 30_000);
        if (moment === 'paused') {
          await handle.executeUpdate(pauseUpdate);
          await eventually(
            async () => (await handle.query(getStatusQuery)).batchesCompleted > 0 || undefined,
            30_000,
          );
        }
        await handle.cancel();
        const final = await handle.result();
        assert.equal(final.state, 'CANCELLED');
        assert.equal(final.sent + final.failed + final.skipped, final.totalRecipients, 'counts add up');
        assert.ok(events.some((e) => e.event_id === `${input.newsletterId}:final` && e.state === 'CANCELLED'));
        const history = await handle.fetchHistory();
        assert.equal(history.events!.filter((e) => e.workflowTaskFailedEventAttributes).length, 0);
      });
    });
  }
});
