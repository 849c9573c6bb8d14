/** Cancel mid-send: CANCELLED, no email after the in-flight batches drain, counts match what the mock received. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { eventually } from '../test/support/eventually.ts';
import { auth, newsletterRequest, recipients } from '../test/support/fixtures.ts';
import { finalStatus } from '../test/support/grpc.ts';
import { useStack } from './harness.ts';

describe('e2e: cancel', { timeout: 600_000 }, () => {
  const stack = useStack({ NEWSLETTER_BATCH_SIZE: '20', EMAIL_CONCURRENCY_LIMIT: '2' });

  it('stops after the in-flight batches and reports counts that match the provider', async () => {
    await stack.deps.mocks.latency('resend', 400);
    await stack.service.newsletters.sendNewsletter(newsletterRequest('e2e-cancel', recipients(1000, 'cx')), auth);
    await eventually(async () => (await stack.deps.mocks.emails('resend')).length >= 100, 60_000, 100);
    const { status } = await stack.service.newsletters.cancelNewsletter(
      { newsletterId: 'e2e-cancel', reason: 'e2e' },
      auth,
    )
      .response;
    assert.equal(status!.state, NewsletterState.CANCELLED);
    const atCancel = (await stack.deps.mocks.emails('resend')).length;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const received = await stack.deps.mocks.emails('resend');
    assert.equal(received.length, atCancel, 'no email after the drain');
    const final = await finalStatus(stack.service, 'e2e-cancel');
    assert.equal(final.state, NewsletterState.CANCELLED);
    assert.equal(final.sent, received.length);
    assert.equal(final.skipped, 1000 - received.length);
    assert.ok(final.sent < 1000);
    const last = await eventually(() =>
      stack.deps.backend.eventsFor('e2e-cancel').find((e) => e.event_id === 'e2e-cancel:final')
    );
    assert.equal(last.state, 'CANCELLED');
    assert.equal(last.sent, received.length);
  });
});
