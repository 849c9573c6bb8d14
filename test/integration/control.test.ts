/**
 * Steering a running newsletter: cancel, pause and resume; waiting out an outage of
 * every provider by itself, and pausing for a person when it lasts too long.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { countOpen } from '../../src/bridge/open-newsletters.ts';
import { workflowIdFor } from '../../src/domain/types.ts';
import { eventually, steady } from '../support/eventually.ts';
import { newsletterId, recipients } from '../support/fixtures.ts';
import { type Stack, startStack } from './harness.ts';

const content = {
  subject: 'Hi {{name}}',
  htmlContent: '',
  textContent: 'Hello {{name}}',
  fromEmail: '',
  replyTo: '',
  tags: {},
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('newsletter control', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      NEWSLETTER_BATCH_SIZE: '10',
      EMAIL_CONCURRENCY_LIMIT: '2',
      CIRCUIT_BREAKER_COOLDOWN_MS: '500',
      // An outage is waited out with tries at most 1 s apart, and handed to a person after 10 s.
      OUTAGE_RETRY_MAX_MS: '1000',
      OUTAGE_GIVE_UP_AFTER: '10s',
    });
  });
  after(async () => {
    await stack?.close();
  });
  beforeEach(() => {
    stack.mock.resend.reset();
    stack.mock.postmark.reset();
  });
  const status = async (id: string) =>
    (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status!;

  it('cancels a slow send: in-flight batches drain, nothing is sent after, counts are true', async () => {
    stack.mock.resend.setLatency(300);
    const id = newsletterId('cancel');
    await stack.newsletters.sendNewsletter(
      { newsletterId: id, ...content, recipients: recipients(300, 'c') },
      stack.auth,
    );
    await eventually(() => stack.mock.resend.received().length >= 40);
    const { status: cancelled } = await stack.newsletters.cancelNewsletter({
      newsletterId: id,
      reason: 'wrong audience',
    }, stack.auth).response;
    assert.equal(cancelled!.state, NewsletterState.CANCELLED);
    assert.equal(cancelled!.reason, 'wrong audience');
    assert.ok(cancelled!.endTime, 'CancelNewsletter answers the final state once the drain is over');
    assert.equal(cancelled!.sent + cancelled!.failed + cancelled!.skipped, 300);
    const deliveredAtCancel = stack.mock.resend.received().length;
    await sleep(1_500);
    assert.equal(
      stack.mock.resend.received().length,
      deliveredAtCancel,
      'no email after the cancelled batches drained',
    );
    const final = await status(id);
    assert.equal(final.state, NewsletterState.CANCELLED);
    assert.equal(final.sent, deliveredAtCancel);
    assert.ok(final.sent < 300);
    assert.equal(final.failed, 0);
    assert.equal(final.skipped, 300 - final.sent);
    assert.ok(final.endTime);
    const last = await eventually(() => stack.backend.eventsFor(id).find((e) => e.event_id.endsWith(':final')));
    assert.deepEqual([last.state, last.sent, last.skipped], ['CANCELLED', final.sent, final.skipped]);
  });

  it('pauses and resumes: no batch starts while paused, then every recipient gets one email', async () => {
    stack.mock.resend.setLatency(200);
    const id = newsletterId('pause');
    await stack.newsletters.sendNewsletter(
      { newsletterId: id, ...content, recipients: recipients(200, 'q') },
      stack.auth,
    );
    await eventually(() => stack.mock.resend.received().length >= 20);
    const { status: paused } = await stack.newsletters.pauseNewsletter({ newsletterId: id }, stack.auth).response;
    assert.equal(paused!.state, NewsletterState.PAUSED);
    // Batches in flight when the pause came still land: wait until they have.
    const atPause = await steady(() => stack.mock.resend.received().length);
    await sleep(1_000);
    assert.equal(stack.mock.resend.received().length, atPause, 'nothing sent while paused');
    assert.equal((await status(id)).state, NewsletterState.PAUSED);
    const { status: resumed } = await stack.newsletters.resumeNewsletter({ newsletterId: id }, stack.auth).response;
    assert.equal(resumed!.state, NewsletterState.RUNNING);
    const done = await completed(id);
    assert.equal(done.sent, 200);
    assert.equal(stack.mock.resend.received().length, 200);
    assert.equal(new Set(stack.mock.resend.received().map((e) => e.to[0])).size, 200);
  });

  const calls = () => stack.mock.resend.calls().length + stack.mock.postmark.calls().length;
  /** completed waits (up to a minute) until the newsletter's status is COMPLETED. */
  const completed = (id: string) =>
    eventually(async () => {
      const s = await status(id);
      return s.state === NewsletterState.COMPLETED ? s : undefined;
    }, 60_000);
  /** sendWhileEveryProviderRefuses makes both providers refuse every call (401), then sends 40 recipients. */
  const sendWhileEveryProviderRefuses = async (name: string, prefix: string) => {
    stack.mock.resend.injectFault({ status: 401, durationMs: 600_000 });
    stack.mock.postmark.injectFault({ status: 401, durationMs: 600_000 });
    const id = newsletterId(name);
    await stack.newsletters.sendNewsletter(
      { newsletterId: id, ...content, recipients: recipients(40, prefix) },
      stack.auth,
    );
    return id;
  };

  it('reports a newsletter whose workflow was terminated as FAILED, with counts that add up to the total and no lifecycle callback owed', async () => {
    stack.mock.resend.setLatency(300);
    // The backend refuses callbacks: `started` is still owed when the workflow is terminated, and never sent after.
    stack.backend.failNext(1_000_000, 503);
    const id = newsletterId('terminated');
    try {
      await stack.newsletters.sendNewsletter(
        { newsletterId: id, ...content, recipients: recipients(300, 't') },
        stack.auth,
      );
      await eventually(async () => (await status(id)).sent >= 20 || undefined);
      await stack.env.client.workflow.getHandle(workflowIdFor(id)).terminate('operator');
      const failed = await eventually(async () => {
        const s = await status(id);
        return s.state === NewsletterState.FAILED ? s : undefined;
      });
      assert.equal(failed.reason, 'workflow terminated');
      assert.ok(failed.sent >= 20 && failed.sent < 300);
      assert.equal(failed.sent + failed.failed + failed.skipped, failed.totalRecipients);
      assert.ok(failed.endTime);
      assert.deepEqual(failed.owedEvents, []);
      assert.ok(failed.owedResults > 0, 'the results handed to results workflows are still on their way');
      assert.equal(failed.callbacksOwed, failed.owedResults);
    } finally {
      stack.backend.failNext(0, 503);
      stack.mock.resend.setLatency(0);
      // Termination does not stop activities already running: let them land before the next test.
      await sleep(1_000);
    }
  });

  it('waits out an outage of every provider by itself, trying one batch at a time, and completes without a person', async () => {
    const id = await sendWhileEveryProviderRefuses('outage', 'o');
    const waiting = await eventually(async () => {
      const s = await status(id);
      return s.reason.startsWith('waiting:') ? s : undefined;
    });
    assert.equal(waiting.state, NewsletterState.RUNNING, 'waiting is not a pause: no person is needed');
    assert.match(
      waiting.reason,
      /^waiting: every provider refused batch \d+ \(resend: .*; postmark: .*\), next try \d\d:\d\d:\d\d UTC$/,
    );
    // Down for a while longer: tries go on by themselves, one batch each, with a growing wait.
    const before = calls();
    await sleep(2_000);
    const during = calls() - before;
    assert.ok(during <= 8, `calls while down stay few: ${during} in 2 s (one batch per try, both providers)`);
    assert.equal((await status(id)).state, NewsletterState.RUNNING);

    stack.mock.resend.clearFaults();
    stack.mock.postmark.clearFaults();
    const done = await completed(id);
    assert.deepEqual([done.sent, done.failed, done.skipped], [40, 0, 0]);
    assert.equal(done.reason, '', 'the waiting reason is gone once a batch went through');
    // Only this newsletter's recipients: activities of an earlier test may still land after the reset.
    const all = [...stack.mock.resend.received(), ...stack.mock.postmark.received()].filter((e) =>
      e.to[0]!.startsWith('o')
    );
    assert.equal(all.length, 40);
    assert.equal(new Set(all.map((e) => e.to[0])).size, 40);
    // Events reach the backend after the status turns COMPLETED (the callback path never holds delivery back).
    const events = await eventually(() => {
      const ids = stack.backend.eventsFor(id).map((e) => e.event_id);
      return ids.includes(`${id}:final`) ? ids : undefined;
    });
    assert.deepEqual(
      events,
      [`${id}:started`, `${id}:final`],
      'no pause was reported: the newsletter never stopped for a person',
    );
  });

  it('pauses for a person once an outage outlasts OUTAGE_GIVE_UP_AFTER, loses nothing, and completes once resumed', async () => {
    const id = await sendWhileEveryProviderRefuses('all-down', 'z');
    const paused = await eventually(async () => {
      const s = await status(id);
      return s.state === NewsletterState.PAUSED ? s : undefined;
    }, 60_000);
    assert.match(
      paused.reason,
      /^paused: every provider refused batch \d+ .* for \d+ min; ResumeNewsletter retries it$/,
    );
    assert.equal(paused.sent, 0);
    // The list of open newsletters tells this pause (it waits for a person) from a person's.
    const open = await eventually(async () => {
      const counts = await countOpen(stack.env.client);
      return (counts.get('PAUSED_ITSELF') ?? 0) >= 1 ? counts : undefined;
    }, 10_000);
    assert.equal(open.get('PAUSED') ?? 0, 0);
    stack.mock.resend.clearFaults();
    stack.mock.postmark.clearFaults();
    await sleep(600); // circuit cool-down
    await stack.newsletters.resumeNewsletter({ newsletterId: id }, stack.auth);
    const done = await completed(id);
    assert.equal(done.sent, 40);
    assert.equal(done.failed, 0);
    const all = [...stack.mock.resend.received(), ...stack.mock.postmark.received()].filter((e) =>
      e.to[0]!.startsWith('z')
    );
    assert.equal(all.length, 40);
    assert.equal(new Set(all.map((e) => e.to[0])).size, 40);
  });
  it('resumed while every provider still refuses, tries one batch at a time again and gives the providers a new OUTAGE_GIVE_UP_AFTER', async () => {
    const id = await sendWhileEveryProviderRefuses('still-down', 'y');
    await eventually(async () => (await status(id)).state === NewsletterState.PAUSED || undefined, 60_000);
    await stack.newsletters.resumeNewsletter({ newsletterId: id }, stack.auth);
    await sleep(700);
    // One batch goes at the resume: not a window of them (2 here) to be refused again.
    const { events } = await stack.env.client.workflow.getHandle(workflowIdFor(id)).fetchHistory();
    const resumed = events!.findIndex((e) => e.workflowExecutionUpdateCompletedEventAttributes);
    // The commands of the task that completed the resume: from its WorkflowTaskCompleted to the next task.
    const from = events!.findLastIndex((e, i) => i < resumed && e.workflowTaskCompletedEventAttributes);
    const next = events!.findIndex((e, i) => i > resumed && e.workflowTaskScheduledEventAttributes);
    const sent = events!.slice(from, next).filter((e) =>
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendBatch'
    );
    assert.equal(sent.length, 1, 'sendBatch scheduled with the resume');
    // A person paused during an outage longer than OUTAGE_GIVE_UP_AFTER, then resumed: tries again, not paused at once.
    await stack.newsletters.pauseNewsletter({ newsletterId: id }, stack.auth);
    await sleep(11_000);
    await stack.newsletters.resumeNewsletter({ newsletterId: id }, stack.auth);
    // Once its try after the resume was refused: waiting again, not paused again at once.
    const after = await eventually(async () => {
      const s = await status(id);
      return s.state === NewsletterState.PAUSED || s.reason.startsWith('waiting:') ? s : undefined;
    }, 30_000);
    assert.equal(after.state, NewsletterState.RUNNING, after.reason);
    stack.mock.resend.clearFaults();
    stack.mock.postmark.clearFaults();
    const done = await completed(id);
    assert.deepEqual([done.sent, done.failed, done.skipped], [40, 0, 0]);
  });
});
