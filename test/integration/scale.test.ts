/**
 * Scale: recipients and results stay out of workflow history, backend lists are paged by
 * cursor, big inline newsletters complete with the backend down, and a workflow task
 * stays small whatever the template size and concurrency.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { workflowIdFor } from '../../src/domain/types.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { finalStatus } from '../support/grpc.ts';
import { historyStats, workflowTaskTrouble } from '../support/history.ts';
import { type Stack, startStack } from './harness.ts';

const fromList = (listId: string) => ({
  recipientSource: { source: { oneofKind: 'backendList' as const, backendList: { listId } } },
});

/**
 * owedSettled waits until the backend has every callback of the newsletter; when it does not
 * come, the error says what the workflow's tasks were doing.
 */
async function owedSettled(stack: Stack, id: string, timeoutMs = 120_000) {
  let owed: number | undefined;
  try {
    return await eventually(async () => {
      const s = (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status!;
      owed = s.callbacksOwed;
      return s.callbacksOwed === 0 && s.state !== NewsletterState.RUNNING ? s : undefined;
    }, timeoutMs);
  } catch (err) {
    const trouble = await workflowTaskTrouble(stack.env.client, workflowIdFor(id)).catch(String);
    throw new Error(`${(err as Error).message}; callbacks owed at the last answer: ${owed}\n${trouble}`);
  }
}

describe('backend lists, paged by cursor', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ NEWSLETTER_BATCH_SIZE: '100', EMAIL_CONCURRENCY_LIMIT: '5' });
  });
  after(async () => {
    await stack?.close();
  });

  it("sends a batch whose variables take it over Resend's 40 MB request size in halves, each recipient once", async () => {
    const id = newsletterId('bytes');
    // 10 recipients of 4.5 MB each: the 100 KB template says one request fits; rendered, it is 45 MB.
    const list = recipients(10, 'by').map((r) => ({ ...r, variables: { bio: 'x'.repeat(4.5 * 1024 * 1024) } }));
    stack.backend.setList('list-bytes', list);
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, [], {
        ...fromList('list-bytes'),
        htmlContent: '',
        textContent: `{{bio}}${'y'.repeat(100 * 1024)}`,
      }),
      stack.auth,
    );
    const status = await finalStatus(stack, id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 10);
    const received = stack.mock.resend.received().filter((e) => e.to[0]!.startsWith('by'));
    assert.equal(received.length, 10);
    assert.equal(new Set(received.map((e) => e.to[0])).size, 10, 'each recipient once');
    const calls = stack.mock.resend.calls().filter((c) => c.idempotencyKey?.startsWith(`nl-${id}-`));
    assert.deepEqual(calls.map((c) => [c.status, c.messages]), [[200, 5], [200, 5]], 'two requests of five, no 413');
    stack.mock.resend.reset(); // the next tests count every email the mock received
  });

  it('sends every recipient of a 1,234-recipient list once, reads each page once, and keeps them out of history', async () => {
    const id = newsletterId('paged');
    const list = recipients(1234, 'pg');
    stack.backend.setList('list-a', list);
    await stack.newsletters.sendNewsletter(newsletterRequest(id, [], fromList('list-a')), stack.auth);
    const status = await finalStatus(stack, id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.deepEqual([status.totalRecipients, status.sent, status.batchesTotal], [1234, 1234, 13]);
    assert.equal(status.recipientsComplete, true);
    const received = stack.mock.resend.received();
    assert.equal(received.length, 1234);
    assert.equal(new Set(received.map((e) => e.to[0])).size, 1234, 'each recipient once');
    assert.ok(received.find((e) => e.to[0] === 'pg17@example.com')?.html?.includes('Hello &lt;pg 17&gt; &amp; co'));
    assert.equal(stack.backend.pageRequests.get('list-a'), 13, 'each page read once (read ahead, then cached)');

    const settled = await owedSettled(stack, id);
    assert.equal(settled.callbacksOwed, 0);
    const results = stack.backend.resultsFor(id).flatMap((e) => e.results);
    assert.equal(new Set(results.map((r) => r.recipient_id)).size, 1234, 'every result reached the backend');

    const history = await historyStats(stack.env.client, workflowIdFor(id));
    for (const r of [list[0]!, list[617]!, list[1233]!]) {
      assert.ok(!history.text.includes(r.email), `${r.email} is not in the workflow history`);
      assert.ok(!history.text.includes(r.recipientId), `${r.recipientId} is not in the workflow history`);
    }
  });

  it('waits out a slow and failing backend while reading the list, and loses nobody', async () => {
    const id = newsletterId('flaky-list');
    stack.backend.setList('list-b', recipients(450, 'fb'));
    stack.backend.failPages(2, 503);
    stack.backend.latency(200);
    try {
      await stack.newsletters.sendNewsletter(newsletterRequest(id, [], fromList('list-b')), stack.auth);
      const status = await finalStatus(stack, id);
      assert.equal(status.state, NewsletterState.COMPLETED);
      assert.equal(status.sent, 450);
      assert.equal(
        new Set(stack.mock.resend.received().filter((e) => e.to[0]!.startsWith('fb')).map((e) => e.to[0])).size,
        450,
      );
    } finally {
      stack.backend.latency(0);
    }
  });

  it('ends FAILED, naming the list, when the backend says it does not know it (404), instead of retrying for ever', async () => {
    const id = newsletterId('unknown-list');
    await stack.newsletters.sendNewsletter(newsletterRequest(id, [], fromList('no-such-list')), stack.auth);
    const status = await finalStatus(stack, id);
    assert.deepEqual([status.state, status.sent], [NewsletterState.FAILED, 0]);
    assert.match(status.reason, /recipient list no-such-list \(404\)/);
    await eventually(() =>
      stack.backend.eventsFor(id).some((e) => e.event_id === `${id}:final` && e.state === 'FAILED')
    );
  });

  it('says in its status why the list read keeps failing (a malformed page), and goes on once the backend mends it', async () => {
    const id = newsletterId('bad-page');
    const list = recipients(30, 'bp');
    stack.backend.setList('list-bad', list.map((r, i) => (i === 12 ? { ...r, email: '' } : r)));
    await stack.newsletters.sendNewsletter(newsletterRequest(id, [], fromList('list-bad')), stack.auth);
    const waiting = await eventually(async () => {
      const s = (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status!;
      return s.reason ? s : undefined;
    }, 30_000);
    assert.equal(waiting.state, NewsletterState.RUNNING);
    assert.match(
      waiting.reason,
      /^reading the recipient list failed \d+ times? \(retried, next try at [0-9T:.-]+Z\): recipient page: recipients\[12\]\.email is required$/,
    );
    stack.backend.setList('list-bad', list);
    const status = await finalStatus(stack, id);
    assert.deepEqual([status.state, status.sent, status.reason], [NewsletterState.COMPLETED, 30, '']);
  });

  it('completes an empty list at once, with nothing sent', async () => {
    const id = newsletterId('empty-list');
    stack.backend.setList('list-empty', []);
    await stack.newsletters.sendNewsletter(newsletterRequest(id, [], fromList('list-empty')), stack.auth);
    const status = await finalStatus(stack, id);
    assert.deepEqual([status.state, status.totalRecipients, status.sent], [NewsletterState.COMPLETED, 0, 0]);
  });
});

describe('large inline newsletters', { timeout: 400_000 }, () => {
  for (const [batch, concurrency] of [['500', '100'], ['10', '8']] as const) {
    describe(`at NEWSLETTER_BATCH_SIZE=${batch}, EMAIL_CONCURRENCY_LIMIT=${concurrency}`, () => {
      let stack: Stack;
      before(async () => {
        stack = await startStack({ NEWSLETTER_BATCH_SIZE: batch, EMAIL_CONCURRENCY_LIMIT: concurrency });
      });
      after(async () => {
        await stack?.close();
      });

      it('delivers 10,000 recipients with variables while the backend is down, then hands it every result', async () => {
        const id = newsletterId('ten-k');
        const list = recipients(10_000, 'tk').map((r, i) => ({
          ...r,
          variables: { index: String(i), plan: i % 2 ? 'pro' : 'free', city: `city-${i % 97}` },
        }));
        stack.backend.failNext(1_000_000, 503);
        await stack.newsletters.sendNewsletter(newsletterRequest(id, list), stack.auth);
        const status = await finalStatus(stack, id, 300_000);
        assert.equal(status.state, NewsletterState.COMPLETED, 'the backend outage did not hold delivery back');
        assert.equal(status.sent, 10_000);
        const received = stack.mock.resend.received();
        assert.equal(new Set(received.map((e) => e.to[0])).size, 10_000);
        assert.equal(received.length, 10_000, 'nobody twice');
        assert.ok(status.callbacksOwed > 0, 'the results not yet delivered are counted');

        stack.backend.failNext(0, 503);
        await owedSettled(stack, id, 200_000);
        const results = stack.backend.resultsFor(id);
        assert.equal(new Set(results.map((e) => e.event_id)).size, results.length, 'each results event once');
        assert.equal(new Set(results.flatMap((e) => e.results.map((r) => r.recipient_id))).size, 10_000);
        // At least once, in order: a callback in flight at a continue-as-new goes again from the next run.
        const events = [...new Set(stack.backend.eventsFor(id).map((e) => e.event_id))];
        assert.deepEqual(events, [`${id}:started`, `${id}:final`]);
      });
    });
  }
});

describe('workflow tasks stay small', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ NEWSLETTER_BATCH_SIZE: '20', EMAIL_CONCURRENCY_LIMIT: '50' });
  });
  after(async () => {
    await stack?.close();
  });

  it('schedules 50 requests of a 200 KB template in one workflow task of far less than 1 MB', async () => {
    const id = newsletterId('big-template');
    const html = `<p>Hello {{name}} TEMPLATE-MARKER</p>${
      '<p>Lorem ipsum dolor sit amet, {{email}}.</p>'.repeat(4_700)
    }`;
    assert.ok(html.length >= 200_000);
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(1000, 'bt'), { htmlContent: html }),
      stack.auth,
    );
    const status = await finalStatus(stack, id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 1000);
    const history = await historyStats(stack.env.client, workflowIdFor(id));
    const largest = Math.max(...history.runs.map((r) => r.largestTaskBytes));
    assert.ok(largest < 100_000, `the largest workflow task scheduled ${largest} bytes of activity inputs`);
    assert.equal(
      history.text.split('TEMPLATE-MARKER').length - 1,
      1,
      'the template is stored once: in the start input',
    );
  });
});
