/**
 * Long newsletters continue as new: a dev server told to suggest continue-as-new after
 * a short history makes the workflow carry its progress across several runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { workflowIdFor } from '../../src/domain/types.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { type Stack, startStack } from './harness.ts';

describe('continue-as-new', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack(
      { NEWSLETTER_BATCH_SIZE: '10', EMAIL_CONCURRENCY_LIMIT: '3' },
      ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=60'],
    );
  });
  after(async () => {
    await stack?.close();
  });

  it('carries progress across runs and sends every recipient exactly once', async () => {
    const id = newsletterId('long');
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(300, 'l'), {
        subject: 'Hi {{name}}',
        htmlContent: '',
        textContent: 'Hello {{name}}',
      }),
      stack.auth,
    );
    const status = await eventually(async () => {
      const s = (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status!;
      return s.state === NewsletterState.COMPLETED ? s : undefined;
    }, 180_000);
    assert.equal(status.sent, 300);
    assert.equal(status.batchesCompleted, 30);
    assert.equal(status.batchesTotal, 30);
    const received = stack.mock.resend.received();
    assert.equal(received.length, 300);
    assert.equal(new Set(received.map((e) => e.to[0])).size, 300);

    const runs = [];
    for await (const run of stack.env.client.workflow.list({ query: `WorkflowId = '${workflowIdFor(id)}'` })) {
      runs.push(run);
    }
    assert.ok(runs.length > 1, `expected several runs, got ${runs.length}`);
    const events = await eventually(() => {
      const e = stack.backend.eventsFor(id);
      return e.some((x) => x.event_id.endsWith(':final')) ? e : undefined;
    });
    assert.deepEqual(events.map((e) => e.event_id), [`${id}:started`, `${id}:final`]);
    const results = stack.backend.resultsFor(id);
    assert.equal(results.length, 30);
    assert.equal(new Set(results.map((e) => e.event_id)).size, 30, 'no results callback twice');
  });
});
