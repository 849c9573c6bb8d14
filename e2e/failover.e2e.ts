/**
 * Failover in both directions, and the circuit breaker returning to the primary once it
 * recovers mid-send.
 */
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

describe('e2e: failover', { timeout: 900_000 }, () => {
  let deps: Deps;
  const services: Service[] = [];
  before(async () => {
    deps = await startDeps();
  });
  after(async () => {
    for (const s of services) await s.stop();
    await deps?.close();
  });
  const start = async (overrides: Record<string, string>) => {
    const service = await startService(await serviceEnv(deps, overrides));
    services.push(service);
    return service;
  };
  const stopAll = async () => {
    while (services.length > 0) await services.pop()!.stop();
    await deps.mocks.reset();
  };

  it('delivers everything through Postmark while Resend is down', async () => {
    const service = await start({ NEWSLETTER_BATCH_SIZE: '50', TEMPORAL_TASK_QUEUE: 'failover-1' });
    await deps.mocks.fault('resend', { status: 503, durationMs: 600_000 });
    await service.newsletters.sendNewsletter(newsletter('e2e-resend-down', recipients(300, 'rd')), auth);
    const status = await finalStatus(service, 'e2e-resend-down');
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.deepEqual(status.sentByProvider, { postmark: 300 });
    const emails = await deps.mocks.emails('postmark');
    assert.equal(emails.length, 300);
    assert.equal(new Set(emails.map((e) => e.to[0])).size, 300);
    assert.equal((await deps.mocks.emails('resend')).length, 0);
    await stopAll();
  });

  it('delivers everything through Resend while Postmark, the primary, is down', async () => {
    const service = await start({
      NEWSLETTER_BATCH_SIZE: '50',
      PRIMARY_EMAIL_PROVIDER: 'postmark',
      TEMPORAL_TASK_QUEUE: 'failover-2',
    });
    await deps.mocks.fault('postmark', { status: 503, durationMs: 600_000 });
    await service.newsletters.sendNewsletter(newsletter('e2e-postmark-down', recipients(300, 'pd')), auth);
    const status = await finalStatus(service, 'e2e-postmark-down');
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.deepEqual(status.sentByProvider, { resend: 300 });
    const emails = await deps.mocks.emails('resend');
    assert.equal(emails.length, 300);
    assert.equal(new Set(emails.map((e) => e.to[0])).size, 300);
    assert.equal((await deps.mocks.emails('postmark')).length, 0);
    await stopAll();
  });

  it('returns to the primary through the circuit breaker once it recovers mid-send', async () => {
    const service = await start({
      NEWSLETTER_BATCH_SIZE: '10',
      EMAIL_CONCURRENCY_LIMIT: '1',
      CIRCUIT_BREAKER_FAILURE_THRESHOLD: '2',
      CIRCUIT_BREAKER_COOLDOWN_MS: '1000',
      TEMPORAL_TASK_QUEUE: 'failover-3',
    });
    await deps.mocks.latency('postmark', 150);
    await deps.mocks.fault('resend', { status: 503, durationMs: 6_000 });
    await service.newsletters.sendNewsletter(newsletter('e2e-recovers', recipients(400, 'rc')), auth);
    const status = await finalStatus(service, 'e2e-recovers');
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 400);
    assert.ok((status.sentByProvider.postmark ?? 0) > 0, 'failed over while Resend was down');
    assert.ok((status.sentByProvider.resend ?? 0) > 0, 'came back to Resend');
    const resendCalls = await deps.mocks.calls('resend');
    const lastRefused = resendCalls.findLastIndex((c) => c.status === 503);
    assert.ok(
      resendCalls.slice(lastRefused + 1).every((c) => c.status === 200),
      'Resend took over again after recovery',
    );
    const all = [...await deps.mocks.emails('resend'), ...await deps.mocks.emails('postmark')];
    assert.equal(all.length, 400);
    assert.equal(new Set(all.map((e) => e.to[0])).size, 400);
    await stopAll();
  });
});
