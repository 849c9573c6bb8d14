/**
 * Failover between Resend and Postmark, in both directions, and the circuit breaker
 * returning to the primary once it recovers.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { finalStatus } from '../support/grpc.ts';
import { type Stack, startStack } from './harness.ts';

describe('failover', { timeout: 400_000 }, () => {
  const stacks: Stack[] = [];
  after(async () => {
    for (const s of stacks) await s.close();
  });

  it('delivers everything through Postmark when Resend answers 503 to every call', async () => {
    const stack = await startStack({ NEWSLETTER_BATCH_SIZE: '50', CIRCUIT_BREAKER_COOLDOWN_MS: '60000' });
    stacks.push(stack);
    stack.mock.resend.injectFault({ status: 503, durationMs: 600_000 });
    const id = newsletterId('resend-down');
    const list = recipients(400, 'f');
    await stack.newsletters.sendNewsletter(newsletterRequest(id, list), stack.auth);
    const status = await finalStatus(stack, id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 400);
    assert.deepEqual(status.sentByProvider, { postmark: 400 });
    assert.equal(stack.mock.resend.received().length, 0);
    const received = stack.mock.postmark.received();
    assert.equal(received.length, 400);
    assert.equal(new Set(received.map((e) => e.to[0])).size, 400, 'each recipient exactly once');
    assert.ok(received.every((e) => e.messageStream === 'broadcast'));
    // Resend was tried (it is the primary) and answered nothing but 503.
    const tried = stack.mock.resend.calls();
    assert.ok(tried.length > 0, 'the primary was tried first');
    assert.ok(tried.every((c) => c.status === 503));
  });

  it('never mails anyone twice when Resend accepts calls but answers after the timeout: requests in doubt stay on Resend', async () => {
    const stack = await startStack({
      NEWSLETTER_BATCH_SIZE: '50',
      EMAIL_CONCURRENCY_LIMIT: '2',
      PROVIDER_TIMEOUT_MS: '400',
      CIRCUIT_BREAKER_FAILURE_THRESHOLD: '2',
      CIRCUIT_BREAKER_COOLDOWN_MS: '60000',
    });
    stacks.push(stack);
    // A slow Resend: every call is accepted, but answered after the caller gave up, for 4 s.
    stack.mock.resend.setLatency(900);
    const healed = setTimeout(() => stack.mock.resend.setLatency(0), 4_000);
    try {
      const id = newsletterId('resend-slow');
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(200, 's')), stack.auth);
      const status = await finalStatus(stack, id);
      assert.equal(status.state, NewsletterState.COMPLETED);
      assert.equal(status.sent, 200);
      const all = [...stack.mock.resend.received(), ...stack.mock.postmark.received()].map((e) => e.to[0]);
      assert.equal(new Set(all).size, 200);
      assert.equal(
        all.length,
        200,
        `each recipient exactly once (Resend ${stack.mock.resend.received().length}, Postmark ${stack.mock.postmark.received().length})`,
      );
      // The timed-out requests were asked again under the same key: Resend answered from its key cache.
      const keys = stack.mock.resend.calls().map((c) => c.idempotencyKey);
      assert.ok(keys.length > new Set(keys).size, 'some request was retried with its key');
      assert.equal(status.sent, (status.sentByProvider['resend'] ?? 0) + (status.sentByProvider['postmark'] ?? 0));
    } finally {
      clearTimeout(healed);
    }
  });

  it('delivers everything through Resend when Postmark is primary and answers 503', async () => {
    const stack = await startStack({ NEWSLETTER_BATCH_SIZE: '50', PRIMARY_EMAIL_PROVIDER: 'postmark' });
    stacks.push(stack);
    stack.mock.postmark.injectFault({ status: 503, durationMs: 600_000 });
    const id = newsletterId('postmark-down');
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(200, 'g')),
      stack.auth,
    );
    const status = await finalStatus(stack, id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.deepEqual(status.sentByProvider, { resend: 200 });
    assert.equal(stack.mock.postmark.received().length, 0);
    // Postmark, the primary, was tried first, and answered nothing but 503.
    const tried = stack.mock.postmark.calls();
    assert.ok(tried.length > 0, 'the primary was tried first');
    assert.ok(tried.every((c) => c.status === 503));
    assert.equal(new Set(stack.mock.resend.received().map((e) => e.to[0])).size, 200);
    assert.equal(stack.mock.resend.received().length, 200);
  });

  it('fails over at once on an auth error and returns to the primary after the circuit cools down', async () => {
    const stack = await startStack({
      NEWSLETTER_BATCH_SIZE: '10',
      EMAIL_CONCURRENCY_LIMIT: '1',
      CIRCUIT_BREAKER_FAILURE_THRESHOLD: '1',
      CIRCUIT_BREAKER_COOLDOWN_MS: '1000',
    });
    stacks.push(stack);
    stack.mock.resend.injectFault({ status: 401, durationMs: 600_000 });
    stack.mock.postmark.setLatency(200);
    const id = newsletterId('recovers');
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(200, 'h')),
      stack.auth,
    );
    // Resend recovers once the newsletter has failed over (timed from then, not from the start:
    // a slow start on a loaded machine would otherwise never meet the fault).
    await eventually(() => stack.mock.postmark.received().length > 0, 60_000, 50);
    stack.mock.resend.clearFaults();
    const status = await finalStatus(stack, id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 200);
    const viaResend = status.sentByProvider.resend ?? 0;
    const viaPostmark = status.sentByProvider.postmark ?? 0;
    assert.ok(viaPostmark > 0, 'failed over while Resend refused');
    assert.ok(viaResend > 0, 'came back to Resend after it recovered');
    assert.equal(viaResend + viaPostmark, 200);
    const all = [...stack.mock.resend.received(), ...stack.mock.postmark.received()];
    assert.equal(new Set(all.map((e) => e.to[0])).size, 200);
    assert.equal(all.length, 200);
    // 401 is never retried on the same provider, and the open circuit keeps batches away from
    // Resend: far fewer refused calls than batches that went to Postmark meanwhile.
    const refused = stack.mock.resend.calls().filter((c) => c.status === 401).length;
    const postmarkCalls = stack.mock.postmark.calls().filter((c) => c.status === 200).length;
    assert.ok(refused >= 1 && refused < postmarkCalls, `refused ${refused}, postmark calls ${postmarkCalls}`);
  });
});
