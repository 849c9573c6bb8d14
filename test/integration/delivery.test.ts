/**
 * Newsletter delivery end to end: gRPC client -> bridge -> Temporal dev server ->
 * worker -> official provider SDKs -> mock providers, with backend callbacks.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterId, recipients, TOKEN } from '../support/fixtures.ts';
import { finalStatus as waitForFinal } from '../support/grpc.ts';
import { type Stack, startStack } from './harness.ts';
import { verifySignature } from '../../contracts/http/signature.ts';

const SIGNING_SECRET = 'callback-signing-secret-for-tests';

const content = {
  subject: 'News for {{name}}',
  htmlContent: '<p>Hello {{name}} (#{{index}})</p><a href="{{unsubscribe_url}}">unsubscribe</a>',
  textContent: 'Hello {{name}}',
  fromEmail: '',
  replyTo: '',
  tags: { campaign: 'integration' },
};

describe('newsletter delivery', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      NEWSLETTER_BATCH_SIZE: '50',
      EMAIL_CONCURRENCY_LIMIT: '5',
      CALLBACK_SIGNING_SECRET: SIGNING_SECRET,
      CALLBACK_SIGNING_SECRET_PREVIOUS: 'the-secret-being-rotated-out',
    });
  });
  after(async () => {
    await stack?.close();
  });
  beforeEach(() => {
    stack.mock.resend.reset();
    stack.mock.postmark.reset();
  });

  const finalStatus = (id: string) => waitForFinal(stack, id);

  it('delivers 1,000 recipients in batches of 50, each exactly once, with escaped names and callbacks', async () => {
    const id = newsletterId('thousand');
    const list = recipients(1000, 'k');
    const { response } = await stack.newsletters.sendNewsletter(
      { newsletterId: id, ...content, recipients: list },
      stack.auth,
    );
    assert.equal(response.alreadyExists, false);
    assert.equal(response.workflowId, `newsletter-${id}`);

    const status = await finalStatus(id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 1000);
    assert.equal(status.failed, 0);
    assert.equal(status.skipped, 0);
    assert.equal(status.batchesTotal, 20);
    assert.equal(status.batchesCompleted, 20);
    assert.deepEqual(status.sentByProvider, { resend: 1000 });

    const received = stack.mock.resend.received();
    assert.equal(received.length, 1000);
    const byAddress = new Map(received.map((e) => [e.to[0], e]));
    assert.equal(byAddress.size, 1000, 'every recipient received exactly one email');
    for (const [i, r] of list.entries()) {
      const email = byAddress.get(r.email);
      assert.ok(email, `${r.email} got no email`);
      assert.ok(email.html?.includes(`Hello &lt;k ${i}&gt; &amp; co (#${i})`), email.html);
      assert.equal(email.subject, `News for <k ${i}> & co`);
      assert.match(email.headers['List-Unsubscribe'] ?? '', /^<https:\/\/app\.authentik\.example\/unsubscribe\?/);
      assert.equal(email.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    }
    const batchCalls = stack.mock.resend.calls().filter((c) => c.path === '/emails/batch' && c.status === 200);
    assert.equal(batchCalls.length, 20);
    assert.ok(batchCalls.every((c) => c.messages === 50 && c.idempotencyKey));
    assert.equal(stack.mock.postmark.received().length, 0);

    const events = await eventually(() => {
      const e = stack.backend.eventsFor(id);
      return e.some((x) => x.event_id.endsWith(':final')) ? e : undefined;
    });
    assert.equal(events[0]!.event_id, `${id}:started`);
    assert.equal(events[0]!.state, 'RUNNING');
    assert.deepEqual(events.map((e) => e.event_id), [`${id}:started`, `${id}:final`]);
    const results = stack.backend.resultsFor(id);
    assert.equal(results.length, 20, 'one results callback per provider request');
    const sent = results.flatMap((e) => e.results).filter((r) => r.status === 'sent');
    assert.equal(new Set(sent.map((r) => r.recipient_id)).size, 1000);
    assert.ok(sent.every((r) => r.provider === 'resend' && r.message_id));
    const final = events.at(-1)!;
    assert.equal(final.event_id, `${id}:final`);
    assert.deepEqual([final.state, final.total, final.sent, final.failed, final.skipped], [
      'COMPLETED',
      1000,
      1000,
      0,
      0,
    ]);
    assert.ok(stack.backend.received.every((r) => r.authorization === `Bearer ${TOKEN}`));
    assert.ok(stack.backend.results.every((r) => r.authorization === `Bearer ${TOKEN}`));
    assert.ok(stack.backend.received.some((r) => r.path === `/api/internal/newsletters/${id}/status`));
    // Every callback is signed: the backend checks it with the verifier the contract ships.
    for (const callback of [...stack.backend.received, ...stack.backend.results]) {
      const check = verifySignature({ header: callback.signature, body: callback.body, secrets: [SIGNING_SECRET] });
      assert.ok(check.ok, `${callback.body.slice(0, 60)}: ${JSON.stringify(check)}`);
      assert.ok(
        verifySignature({ header: callback.signature, body: callback.body, secrets: ['the-secret-being-rotated-out'] })
          .ok,
      );
      assert.equal(verifySignature({ header: callback.signature, body: callback.body, secrets: ['forged'] }).ok, false);
    }
  });

  it('starts one workflow and sends each email once when SendNewsletter is called twice with one id', async () => {
    const id = newsletterId('twice');
    const list = recipients(120, 't');
    const request = { newsletterId: id, ...content, recipients: list };
    const [first, second] = await Promise.all([
      stack.newsletters.sendNewsletter(request, stack.auth).response,
      stack.newsletters.sendNewsletter(request, stack.auth).response,
    ]);
    assert.deepEqual([first.alreadyExists, second.alreadyExists].sort(), [false, true]);
    assert.equal(first.workflowId, second.workflowId);
    await finalStatus(id);
    const third = await stack.newsletters.sendNewsletter(request, stack.auth).response;
    assert.equal(third.alreadyExists, true, 'a finished newsletter is never sent again');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(stack.mock.resend.received().length, 120);
    assert.equal(new Set(stack.mock.resend.received().map((e) => e.to[0])).size, 120);
  });

  it('records a permanent per-recipient failure once, without retry or failover', async () => {
    const id = newsletterId('permanent');
    const list = recipients(60, 'p');
    stack.mock.resend.failAddresses('invalid', [list[7]!.email]);
    await stack.newsletters.sendNewsletter({ newsletterId: id, ...content, recipients: list }, stack.auth);
    const status = await finalStatus(id);
    assert.equal(status.state, NewsletterState.COMPLETED_WITH_FAILURES);
    assert.equal(status.sent, 59);
    assert.equal(status.failed, 1);
    assert.equal(status.skipped, 0);
    assert.equal(status.failures.length, 1);
    assert.equal(status.failures[0]!.email, list[7]!.email);
    assert.equal(status.failures[0]!.recipientId, 'p-7');
    assert.equal(status.failures[0]!.provider, 'resend');
    assert.equal(stack.mock.postmark.calls().length, 0, 'never failed over');
    assert.equal(stack.mock.resend.calls().length, 2, 'one call per batch, no retry');
    const final = await eventually(() => stack.backend.eventsFor(id).find((e) => e.event_id.endsWith(':final')));
    assert.equal(final.state, 'COMPLETED_WITH_FAILURES');
    const failed = stack.backend.resultsFor(id).flatMap((e) => e.results).filter((r) => r.status === 'failed');
    assert.deepEqual(failed.map((r) => r.recipient_id), ['p-7']);
  });

  it('waits for retry-after on 429 and succeeds on the same provider', async () => {
    const id = newsletterId('throttled');
    stack.mock.resend.injectFault({ status: 429, count: 1, retryAfterSeconds: 2 });
    const started = Date.now();
    await stack.newsletters.sendNewsletter(
      { newsletterId: id, ...content, recipients: recipients(10, 'r') },
      stack.auth,
    );
    const status = await finalStatus(id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 10);
    assert.deepEqual(status.sentByProvider, { resend: 10 });
    const calls = stack.mock.resend.calls();
    assert.deepEqual(calls.map((c) => c.status), [429, 200]);
    const waited = Date.parse(calls[1]!.at) - Date.parse(calls[0]!.at);
    assert.ok(waited >= 1_900, `retried after ${waited} ms, expected retry-after (2 s)`);
    assert.ok(Date.now() - started >= 2_000);
    assert.equal(stack.mock.postmark.calls().length, 0);
  });

  it('streams status changes with WatchNewsletter until the final state', async () => {
    const id = newsletterId('watch');
    stack.mock.resend.setLatency(400);
    await stack.newsletters.sendNewsletter(
      { newsletterId: id, ...content, recipients: recipients(300, 'w') },
      stack.auth,
    );
    const seen: number[] = [];
    let last;
    for await (const message of stack.newsletters.watchNewsletter({ newsletterId: id }, stack.auth).responses) {
      seen.push(message.status!.sent);
      last = message.status!;
    }
    assert.equal(last?.state, NewsletterState.COMPLETED);
    assert.equal(last?.sent, 300);
    assert.ok(seen.length >= 2, `expected several updates, got ${seen.length}`);
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'progress never goes backwards');
  });

  it('keeps delivering through a backend outage and delivers every callback once it recovers', async () => {
    const id = newsletterId('backend-down');
    stack.backend.failNext(3, 503);
    await stack.newsletters.sendNewsletter(
      { newsletterId: id, ...content, recipients: recipients(100, 'b') },
      stack.auth,
    );
    const status = await finalStatus(id);
    assert.equal(status.state, NewsletterState.COMPLETED, 'the outage did not block or fail delivery');
    assert.equal(status.sent, 100);
    const events = await eventually(() => {
      const e = stack.backend.eventsFor(id);
      return e.some((x) => x.event_id.endsWith(':final')) ? e : undefined;
    }, 120_000);
    // Every lifecycle event once, in order; every request's results once, after retries.
    assert.deepEqual(events.map((e) => e.event_id), [`${id}:started`, `${id}:final`]);
    const results = await eventually(() => {
      const r = stack.backend.resultsFor(id);
      return r.length === 2 ? r : undefined;
    }, 120_000);
    assert.deepEqual(results.map((e) => e.event_id).sort(), [`${id}:results:b0-resend`, `${id}:results:b1-resend`]);
    assert.equal(new Set(results.flatMap((e) => e.results.map((r) => r.recipient_id))).size, 100);
    const settled = await eventually(async () => {
      const s = (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status!;
      return s.callbacksOwed === 0 ? s : undefined;
    });
    assert.equal(settled.state, NewsletterState.COMPLETED);
  });
});
