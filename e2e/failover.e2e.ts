/**
 * Failover smoke test against the containers: Resend down, Postmark delivers everything.
 * The failover scenarios themselves (either direction, auth errors, the circuit breaker
 * returning to the primary) are covered by test/integration/failover.test.ts; this suite
 * shows that the production image and the containerized mocks wire them up the same way.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { auth, newsletterRequest, recipients } from '../test/support/fixtures.ts';
import { finalStatus } from '../test/support/grpc.ts';
import { useStack } from './harness.ts';

describe('e2e: failover', { timeout: 600_000 }, () => {
  const stack = useStack({ NEWSLETTER_BATCH_SIZE: '50' });

  it('delivers everything through Postmark while Resend is down', async () => {
    await stack.deps.mocks.fault('resend', { status: 503, durationMs: 600_000 });
    await stack.service.newsletters.sendNewsletter(newsletterRequest('e2e-resend-down', recipients(300, 'rd')), auth);
    const status = await finalStatus(stack.service, 'e2e-resend-down');
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.deepEqual(status.sentByProvider, { postmark: 300 });
    const emails = await stack.deps.mocks.emails('postmark');
    assert.equal(emails.length, 300);
    assert.equal(new Set(emails.map((e) => e.to[0])).size, 300);
    assert.equal((await stack.deps.mocks.emails('resend')).length, 0);
    // Resend, the primary, was tried first, and answered nothing but 503.
    const tried = await stack.deps.mocks.calls('resend');
    assert.ok(tried.length > 0, 'the primary was tried first');
    assert.ok(tried.every((c) => c.status === 503));
  });
});
