/** Batching: 2,000 recipients in batches of 100 are exactly 20 provider batch calls, each recipient once. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { auth, newsletterRequest, recipients } from '../test/support/fixtures.ts';
import { finalStatus } from '../test/support/grpc.ts';
import { useStack } from './harness.ts';

describe('e2e: batching', { timeout: 600_000 }, () => {
  const stack = useStack({ NEWSLETTER_BATCH_SIZE: '100', EMAIL_CONCURRENCY_LIMIT: '5' });

  it('sends 2,000 recipients in exactly 20 provider batch calls, each recipient once', async () => {
    const list = recipients(2000, 'batch');
    await stack.service.newsletters.sendNewsletter(newsletterRequest('e2e-batching', list), auth);
    const status = await finalStatus(stack.service, 'e2e-batching');
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 2000);
    assert.equal(status.batchesTotal, 20);
    const calls = (await stack.deps.mocks.calls('resend')).filter((c) => c.path === '/emails/batch');
    assert.equal(calls.length, 20);
    assert.ok(calls.every((c) => c.status === 200 && c.messages === 100));
    const emails = await stack.deps.mocks.emails('resend');
    assert.equal(emails.length, 2000);
    assert.equal(new Set(emails.map((e) => e.to[0])).size, 2000);
    assert.equal((await stack.deps.mocks.calls('postmark')).length, 0);
  });
});
