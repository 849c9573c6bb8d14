/**
 * Many at once: 50 newsletters of 10 to 2,000 recipients started together on two worker
 * processes, each completing with exact counts, every recipient once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { auth, newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { finalStatus } from '../support/grpc.ts';
import { type ChaosStack, deliveryOf, startChaosStack } from './stack.ts';

const NEWSLETTERS = 50;

describe('chaos: load', { timeout: 900_000 }, () => {
  let stack: ChaosStack;
  before(async () => {
    stack = await startChaosStack('load', {
      workers: 2,
      env: { NEWSLETTER_BATCH_SIZE: '100', EMAIL_CONCURRENCY_LIMIT: '4' },
    });
    stack.mock.resend.setLatency(50);
  });
  after(async () => {
    await stack?.close();
  });

  it('completes 50 newsletters of 10 to 2,000 recipients started at once, each with exact counts', async (t) => {
    // Sizes spread from 10 to 2,000 (deterministic, so a failure reproduces).
    const sizes = Array.from(
      { length: NEWSLETTERS },
      (_, i) => 10 + Math.round((1_990 * ((i * 37) % NEWSLETTERS)) / (NEWSLETTERS - 1)),
    );
    const started = Date.now();
    const ids = await Promise.all(sizes.map(async (size, i) => {
      const id = newsletterId(`load${i}`);
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(size, `ld${i}-`)), auth);
      return id;
    }));
    const statuses = await Promise.all(ids.map((id) => finalStatus(stack, id, 600_000)));
    const wrong: string[] = [];
    statuses.forEach((status, i) => {
      const seen = deliveryOf(stack.mock, `ld${i}-`);
      const exact = status.state === NewsletterState.COMPLETED && status.sent === sizes[i] &&
        status.sent + status.failed + status.skipped === status.totalRecipients && seen.distinct === sizes[i] &&
        seen.duplicates === 0;
      if (!exact) {
        wrong.push(`#${i} (${sizes[i]}): ${NewsletterState[status.state]} sent ${status.sent}, mock ${seen.total}`);
      }
    });
    const total = sizes.reduce((a, b) => a + b, 0);
    t.diagnostic(
      `${NEWSLETTERS} newsletters (${Math.min(...sizes)}–${
        Math.max(...sizes)
      } recipients, ${total} in all) at once on ` +
        `2 workers: ${NEWSLETTERS - wrong.length} exact, in ${Math.round((Date.now() - started) / 1000)} s`,
    );
    assert.deepEqual(wrong, []);
  });
});
