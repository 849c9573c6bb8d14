/**
 * Outages: a provider slower than PROVIDER_TIMEOUT_MS (every call accepted, answered too
 * late), both providers down for a minute, and the backend refusing callbacks for minutes
 * (503, then 401). Counted at the mocks and at the backend stand-in.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { eventually } from '../support/eventually.ts';
import { auth, newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { finalStatus } from '../support/grpc.ts';
import { type ChaosStack, deliveryOf, startChaosStack } from './stack.ts';

describe('chaos: outages', { timeout: 900_000 }, () => {
  let stack: ChaosStack;
  before(async () => {
    stack = await startChaosStack('outages', {
      workers: 1,
      env: {
        NEWSLETTER_BATCH_SIZE: '50',
        EMAIL_CONCURRENCY_LIMIT: '4',
        PROVIDER_TIMEOUT_MS: '500',
        CIRCUIT_BREAKER_FAILURE_THRESHOLD: '3',
        CIRCUIT_BREAKER_COOLDOWN_MS: '5000',
        OUTAGE_RETRY_MAX_MS: '20000',
      },
    });
  });
  after(async () => {
    await stack?.close();
  });
  const calls = () => stack.mock.resend.calls().length + stack.mock.postmark.calls().length;

  it('sends nobody twice while Resend accepts every call but answers after the timeout, with its circuit opening', async (t) => {
    stack.mock.resend.setLatency(1_000);
    const id = newsletterId('slow');
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(1_000, 'slow-')), auth);
    await sleep(10_000);
    stack.mock.resend.setLatency(0);
    const status = await finalStatus(stack, id, 300_000);
    const seen = deliveryOf(stack.mock, 'slow-');
    t.diagnostic(
      `Resend answering after the 500 ms timeout for 10 s: mock received ${seen.total} (resend ${seen.resend}, ` +
        `postmark ${seen.postmark}), distinct ${seen.distinct}, duplicates ${seen.duplicates}; ` +
        `status ${NewsletterState[status.state]} sent ${status.sent}`,
    );
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.deepEqual([seen.distinct, seen.duplicates], [1_000, 0], 'nobody lost, nobody twice');
    assert.equal(status.sent, seen.total);
    assert.deepEqual(
      [status.sentByProvider['resend'] ?? 0, status.sentByProvider['postmark'] ?? 0],
      [seen.resend, seen.postmark],
    );
  });

  it('completes by itself when both providers are down for 60 s, with few calls while they are down', async (t) => {
    stack.mock.resend.reset();
    stack.mock.postmark.reset();
    stack.mock.resend.injectFault({ status: 503, durationMs: 60_000 });
    stack.mock.postmark.injectFault({ status: 503, durationMs: 60_000 });
    const downSince = Date.now();
    const id = newsletterId('down');
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(500, 'down-')), auth);
    const waiting = await eventually(async () => {
      const s = (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, auth).response).status!;
      return s.reason.startsWith('waiting:') ? s : undefined;
    }, 60_000);
    assert.equal(waiting.state, NewsletterState.RUNNING);
    await sleep(Math.max(0, 60_000 - (Date.now() - downSince)));
    const whileDown = calls();
    const status = await finalStatus(stack, id, 300_000);
    const seen = deliveryOf(stack.mock, 'down-');
    t.diagnostic(
      `both providers 503 for 60 s: ${whileDown} calls while down; then mock received ${seen.total}, ` +
        `distinct ${seen.distinct}, duplicates ${seen.duplicates}; status ${NewsletterState[status.state]} ` +
        `sent ${status.sent}, ${Math.round((Date.now() - downSince) / 1000)} s after the outage began, no resume`,
    );
    assert.equal(status.state, NewsletterState.COMPLETED, 'completed without ResumeNewsletter');
    assert.deepEqual([seen.distinct, seen.duplicates], [500, 0]);
    // Each batch in flight when it began (4) tries both providers with a few retries each, then one batch per try.
    assert.ok(whileDown <= 80, `calls while down stay bounded: ${whileDown}`);
    // Events reach the backend after the status turns final: wait for the last before looking for a pause.
    const events = await eventually(() => {
      const ids = stack.backend.eventsFor(id).map((e) => e.event_id);
      return ids.includes(`${id}:final`) ? ids : undefined;
    });
    assert.ok(!events.some((e) => e.includes(':paused')), 'never paused for a person');
  });

  it('delivers unaffected while the backend answers 503, then 401, and hands it every event once afterwards', async (t) => {
    stack.mock.resend.reset();
    stack.mock.postmark.reset();
    const refusedBefore = stack.backend.callbackRefusals;
    const outageBegan = Date.now();
    stack.backend.failCallbacksFor(60_000, 503);
    const id = newsletterId('backend');
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(1_000, 'be-')), auth);
    const status = await finalStatus(stack, id, 120_000);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.ok(Date.now() < outageBegan + 60_000, 'delivery does not wait for the backend: done while it is still down');
    assert.equal(deliveryOf(stack.mock, 'be-').distinct, 1_000);
    await sleep(Math.max(0, outageBegan + 60_000 - Date.now()));
    stack.backend.failCallbacksFor(20_000, 401);
    await sleep(20_000);
    // Every lifecycle event and every batch's results arrive once the backend is healthy.
    const batches = 1_000 / 50;
    await eventually(
      () => {
        const events = stack.backend.eventsFor(id).map((e) => e.event_id);
        const results = stack.backend.resultsFor(id).map((e) => e.event_id);
        return events.includes(`${id}:final`) && new Set(results).size === batches || undefined;
      },
      300_000,
      1_000,
    );
    const events = stack.backend.eventsFor(id).map((e) => e.event_id);
    const results = stack.backend.resultsFor(id);
    t.diagnostic(
      `backend 503 for 60 s then 401 for 20 s: ${stack.backend.callbackRefusals - refusedBefore} callbacks refused; ` +
        `newsletter ${NewsletterState[status.state]} meanwhile; afterwards events ${events.join(', ')}, ` +
        `${new Set(results.map((r) => r.event_id)).size} results events, ` +
        `${results.reduce((n, r) => n + r.results.length, 0)} recipient results`,
    );
    assert.deepEqual(events, [`${id}:started`, `${id}:final`], 'each lifecycle event once, in order');
    assert.equal(results.length, batches, 'each results event once');
    assert.equal(
      new Set(results.flatMap((r) => r.results.map((x) => x.email))).size,
      1_000,
      'every recipient reported',
    );
  });
});
