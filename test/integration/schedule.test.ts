/**
 * Scheduled newsletters (send_at): the workflow waits durably (state SCHEDULED) and starts
 * at its time, also after a worker restart; cancel, pause and RescheduleNewsletter work
 * while it waits; a send_at that makes no sense is refused, naming the field.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { Timestamp } from '../../contracts/gen/google/protobuf/timestamp.ts';
import { eventually } from '../support/eventually.ts';
import { auth, newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { finalStatus, outcomeOf } from '../support/grpc.ts';
import { type Stack, startStack } from './harness.ts';

const inMs = (ms: number) => Timestamp.fromDate(new Date(Date.now() + ms));

describe('scheduled newsletters', { timeout: 120_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });

  const sentTo = (prefix: string) =>
    [...stack.mock.resend.received(), ...stack.mock.postmark.received()].filter((e) => e.to[0]!.startsWith(prefix));
  const status = async (id: string) =>
    (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, auth).response).status!;

  it('waits SCHEDULED until send_at, through a worker restart, then sends every recipient once', async () => {
    const id = newsletterId('sched');
    const sendAt = inMs(5_000);
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(6, 'sch-'), { sendAt }), auth).response;
    const waiting = await status(id);
    assert.equal(waiting.state, NewsletterState.SCHEDULED);
    assert.deepEqual(waiting.scheduledFor, sendAt);
    assert.equal(waiting.totalRecipients, 6);

    await stack.restartWorker();
    const done = await finalStatus(stack, id, 60_000);
    assert.equal(done.state, NewsletterState.COMPLETED);
    assert.equal(done.sent, 6);
    assert.equal(done.scheduledFor, undefined);
    const emails = sentTo('sch-');
    assert.equal(new Set(emails.map((e) => e.to[0])).size, 6);
    assert.equal(emails.length, 6);
    const first = Math.min(...emails.map((e) => Date.parse(e.receivedAt)));
    assert.ok(first >= Timestamp.toDate(sendAt).getTime(), 'nothing before send_at');
    // The backend hears `started` when sending begins, not before.
    const started = await eventually(() => stack.backend.received.find((c) => c.event.event_id === `${id}:started`));
    assert.equal(started.event.state, 'RUNNING');
  });

  it('cancels while waiting: CANCELLED, every recipient skipped, nothing sent', async () => {
    const id = newsletterId('sched-cancel');
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(4, 'schc-'), { sendAt: inMs(3_600_000) }),
      auth,
    ).response;
    const { status: cancelled } = await stack.newsletters.cancelNewsletter({
      newsletterId: id,
      reason: 'changed my mind',
    }, auth)
      .response;
    assert.equal(cancelled!.state, NewsletterState.CANCELLED);
    assert.equal(cancelled!.skipped, 4);
    assert.equal(cancelled!.sent, 0);
    assert.deepEqual(sentTo('schc-'), []);
    const events = await eventually(() => {
      const mine = stack.backend.received.filter((c) => c.event.newsletter_id === id);
      return mine.length > 0 ? mine : undefined;
    }, 10_000);
    assert.deepEqual(events.map((c) => [c.event.event_id, c.event.state]), [[`${id}:final`, 'CANCELLED']]);
  });

  it('reschedules while waiting, and refuses once sending has begun', async () => {
    const id = newsletterId('sched-move');
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(3, 'schm-'), { sendAt: inMs(3_600_000) }),
      auth,
    ).response;
    const sooner = inMs(1_500);
    const { status: moved } = await stack.newsletters.rescheduleNewsletter({ newsletterId: id, sendAt: sooner }, auth)
      .response;
    assert.equal(moved!.state, NewsletterState.SCHEDULED);
    assert.deepEqual(moved!.scheduledFor, sooner);
    const done = await finalStatus(stack, id, 30_000);
    assert.equal(done.state, NewsletterState.COMPLETED);
    assert.equal(sentTo('schm-').length, 3);
    const late = await outcomeOf(
      stack.newsletters.rescheduleNewsletter({ newsletterId: id, sendAt: inMs(60_000) }, auth).response,
    );
    assert.equal(late.code, 'FAILED_PRECONDITION');
    assert.match(late.message, /cannot be rescheduled/);
  });

  it('pauses while waiting: nothing goes out at send_at until ResumeNewsletter', async () => {
    const id = newsletterId('sched-pause');
    // send_at far enough ahead for the pause to reach the workflow first on a loaded machine.
    const sendAt = inMs(4_000);
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(3, 'schp-'), { sendAt }), auth).response;
    const { status: paused } = await stack.newsletters.pauseNewsletter({ newsletterId: id }, auth).response;
    assert.equal(paused!.state, NewsletterState.PAUSED);
    await sleep(Math.max(0, Timestamp.toDate(sendAt).getTime() + 1_500 - Date.now()));
    assert.equal((await status(id)).state, NewsletterState.PAUSED);
    assert.deepEqual(sentTo('schp-'), []);
    await stack.newsletters.resumeNewsletter({ newsletterId: id }, auth).response;
    assert.equal((await finalStatus(stack, id, 30_000)).sent, 3);
  });

  it('refuses a send_at in the past or more than a year ahead, naming send_at, and starts nothing', async () => {
    for (
      const [sendAt, pattern] of [
        [inMs(-3_600_000), /^send_at: .* is in the past/],
        [inMs(400 * 24 * 3_600_000), /^send_at: .* is more than a year ahead/],
      ] as const
    ) {
      const id = newsletterId('sched-bad');
      const refused = await outcomeOf(
        stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(1, 'schb-'), { sendAt }), auth).response,
      );
      assert.equal(refused.code, 'INVALID_ARGUMENT');
      assert.match(refused.message, pattern);
      assert.equal(
        (await outcomeOf(stack.newsletters.getNewsletterStatus({ newsletterId: id }, auth).response)).code,
        'NOT_FOUND',
      );
    }
    const noTime = await outcomeOf(stack.newsletters.rescheduleNewsletter({ newsletterId: 'whatever' }, auth).response);
    assert.equal(noTime.code, 'INVALID_ARGUMENT');
    assert.match(noTime.message, /^send_at: required/);
  });
});
