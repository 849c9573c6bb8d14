/**
 * Crash and restart: the service container is killed mid-send and started again; the
 * newsletter completes and every recipient gets exactly one email (Resend idempotency keys
 * make the retried in-flight batches harmless).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewsletterState } from '../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { eventually } from '../test/support/eventually.ts';
import { auth, newsletterRequest, recipients } from '../test/support/fixtures.ts';
import { finalStatus } from '../test/support/grpc.ts';
import { type Deps, type Service, serviceEnv, startDeps, startService } from './harness.ts';

describe('e2e: restart', { timeout: 600_000 }, () => {
  let deps: Deps;
  let service: Service | undefined;
  before(async () => {
    deps = await startDeps();
  });
  after(async () => {
    await service?.stop();
    await deps?.close();
  });

  it('completes after the service is killed mid-send, each recipient exactly once', async () => {
    const env = await serviceEnv(deps, { NEWSLETTER_BATCH_SIZE: '25', EMAIL_CONCURRENCY_LIMIT: '3' });
    service = await startService(env);
    await deps.mocks.latency('resend', 500);
    await service.newsletters.sendNewsletter(newsletterRequest('e2e-restart', recipients(1500, 'rs')), auth);
    await eventually(async () => (await deps.mocks.emails('resend')).length >= 200, 60_000, 100);
    // SIGKILL, no drain: batches are in flight at the provider.
    await service.container.stop({ timeout: 0 });
    const beforeRestart = (await deps.mocks.emails('resend')).length;
    assert.ok(beforeRestart < 1500, 'killed mid-send');
    await deps.mocks.latency('resend', 0);
    service = await startService(env);
    const status = await finalStatus(service, 'e2e-restart', 300_000);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 1500);
    const emails = await deps.mocks.emails('resend');
    assert.equal(new Set(emails.map((e) => e.to[0])).size, 1500, 'everyone got the newsletter');
    assert.equal(emails.length, 1500, 'nobody got it twice');
    const batchCalls = (await deps.mocks.calls('resend')).filter((c) => c.path === '/emails/batch');
    assert.ok(batchCalls.length >= 60, 'a call per batch at least');
    assert.ok(batchCalls.every((c) => c.idempotencyKey), 'every batch call carried an idempotency key');
  });

  it('hears docker kill -s HUP and docker stop itself: certificates re-read, and the batches in flight finish on their first attempt', async () => {
    await service?.stop();
    await deps.mocks.reset();
    const env = await serviceEnv(deps, {
      NEWSLETTER_BATCH_SIZE: '25',
      EMAIL_CONCURRENCY_LIMIT: '3',
      LOG_LEVEL: 'info',
    });
    service = await startService(env);
    let logs = '';
    (await service.container.logs()).on('data', (line) => (logs += line));
    // Each call takes 3 s: a stop always finds batches in flight.
    await deps.mocks.latency('resend', 3_000);
    await service.newsletters.sendNewsletter(newsletterRequest('e2e-drain', recipients(300, 'dr')), auth);
    await eventually(async () => (await deps.mocks.calls('resend')).length >= 4, 60_000, 100);
    // SIGHUP to the container's first process, as `docker kill -s HUP` sends it: the bridge re-reads its certificates.
    await service.container.exec(['sh', '-c', 'kill -HUP 1']);
    await eventually(() => logs.includes('SIGHUP: re-reading the TLS certificates') || undefined, 10_000, 100);
    // SIGTERM, as docker stop and Kubernetes send it, with time to drain.
    await service.container.stop({ timeout: 45_000 });
    assert.match(logs, /"msg":"shutting down"/, 'the service heard the SIGTERM itself');
    await deps.mocks.latency('resend', 0);
    service = await startService(env);
    const status = await finalStatus(service, 'e2e-drain', 300_000);
    assert.equal(status.sent, 300);
    const keys = (await deps.mocks.calls('resend')).map((c) => c.idempotencyKey);
    // A batch cut off by the stop would be asked again after the restart, under the same key.
    assert.equal(new Set(keys).size, keys.length, 'no request made twice');
  });
});
