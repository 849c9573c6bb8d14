/**
 * The newsletter workflow on its own, on a real Temporal dev server, with stand-in
 * activities to force situations the mock providers cannot easily produce: a batch that
 * one provider partly accepted before every provider refused, then a cancel. Also replays
 * the recorded history to catch non-determinism.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { Activities } from '../../src/activities/index.ts';
import type { NewsletterInput, ProviderUnavailableDetails, SendBatchInput } from '../../src/domain/types.ts';
import { workflowsPath } from '../../src/worker/worker.ts';
import { cancelUpdate, getStatusQuery, newsletterWorkflow } from '../../src/workflows/newsletter.ts';
import { eventually } from '../support/eventually.ts';
import { recipients, silentLogger } from '../support/fixtures.ts';
import { temporalCli } from './harness.ts';

describe('newsletter workflow', { timeout: 180_000 }, () => {
  let env: TestWorkflowEnvironment;
  let workflowBundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
  before(async () => {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporalCli() },
        ip: '127.0.0.1',
        extraArgs: ['--headless'],
      },
    });
    workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: silentLogger });
  });
  after(async () => {
    await env?.teardown();
  });

  it('counts recipients a provider accepted before every provider refused, when cancelled while paused', async () => {
    const taskQueue = `wf-${randomUUID()}`;
    const unavailable = (input: SendBatchInput, accepted: number) => {
      const details: ProviderUnavailableDetails = {
        provider: input.provider,
        reason: `${input.provider} gave up`,
        done: input.recipients.slice(0, accepted).map((r) => ({
          position: r.position,
          recipientId: r.recipientId,
          email: r.email,
          status: 'sent',
          provider: input.provider,
          messageId: `m-${r.position}`,
        })),
      };
      return ApplicationFailure.create({ type: 'ProviderUnavailable', nonRetryable: true, details: [details] });
    };
    const activities: Pick<Activities, 'sendBatch' | 'notifyBackend'> = {
      // Resend accepts the first 3 recipients of the batch and then becomes unavailable; Postmark refuses all.
      sendBatch: (input) => Promise.reject(unavailable(input, input.provider === 'resend' ? 3 : 0)),
      notifyBackend: () => Promise.resolve('disabled'),
    };
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle, activities });
    const input: NewsletterInput = {
      newsletterId: 'partial',
      content: { subject: 's', text: 't', from: 'a@example.com', tags: {} },
      recipients: recipients(10, 'w'),
      batchSize: 10,
      concurrency: 1,
      primaryProvider: 'resend',
      unsubscribeBaseUrl: 'https://app.example.com',
    };
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(newsletterWorkflow, {
        args: [input],
        taskQueue,
        workflowId: `wf-${randomUUID()}`,
      });
      const paused = await eventually(async () => {
        const s = await handle.query(getStatusQuery);
        return s.state === 'PAUSED' ? s : undefined;
      }, 30_000);
      assert.match(paused.reason ?? '', /every provider refused batch 0/);
      const cancelled = await handle.executeUpdate(cancelUpdate, { args: ['stop'] });
      assert.equal(cancelled.state, 'CANCELLED');
      const final = await handle.result();
      assert.equal(final.sent, 3, 'the recipients Resend accepted are sent, not skipped');
      assert.equal(final.skipped, 7);
      assert.equal(final.batchesCompleted, 0);
      assert.deepEqual(final.sentByProvider, { resend: 3 });

      // The recorded history replays against the current workflow code.
      await Worker.runReplayHistory({ workflowBundle }, await handle.fetchHistory());
    });
  });
});
