/** Batching: 2,000 recipients in batches of 100 are exactly 20 provider batch calls, each recipient once. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../contracts/gen/authentik/temporal/v1/newsletter.ts';
import {
  auth,
  type Deps,
  finalStatus,
  newsletter,
  recipients,
  type Service,
  serviceEnv,
  startDeps,
  startService,
} from './harness.ts';

describe('e2e: batching', { timeout: 600_000 }, () => {
  let deps: Deps;
  let service: Service;
  before(async () => {
    deps = await startDeps();
    service = await startService(
      await serviceEnv(deps, { NEWSLETTER_BATCH_SIZE: '100', EMAIL_CONCURRENCY_LIMIT: '5' }),
    );
  });
  after(async () => {
    await service?.stop();
    await deps?.close();
  });

  it('sends 2,000 recipients in exactly 20 provider batch calls, each recipient once', async () => {
    const list = recipients(2000, 'batch');
    await service.newsletters.sendNewsletter(newsletter('e2e-batching', list), auth);
    const status = await finalStatus(service, 'e2e-batching');
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 2000);
    assert.equal(status.batchesTotal, 20);
    const calls = (await deps.mocks.calls('resend')).filter((c) => c.path === '/emails/batch');
    assert.equal(calls.length, 20);
    assert.ok(calls.every((c) => c.status === 200 && c.messages === 100));
    const emails = await deps.mocks.emails('resend');
    assert.equal(emails.length, 2000);
    assert.equal(new Set(emails.map((e) => e.to[0])).size, 2000);
    assert.equal((await deps.mocks.calls('postmark')).length, 0);
  });
});
