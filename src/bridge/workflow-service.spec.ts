import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NewsletterInput } from '../domain/types.ts';
import { WORKFLOW_TYPES } from '../workflows/registry.ts';
import { InvalidArgumentError } from './errors.ts';
import type { DeliveryDefaults } from './validation.ts';
import type { Client } from '@temporalio/client';
import { createWorkflowService, starters } from './workflow-service.ts';

const defaults: DeliveryDefaults = {
  fromEmail: 'news@example.com',
  batchSize: 100,
  concurrency: 5,
  primaryProvider: 'resend',
  frontendUrl: 'https://app.example.com',
  backendLists: true,
  outage: { retryMaxMs: 600_000, giveUpAfterMs: 43_200_000 },
  fromDomains: [],
};
const start = starters(defaults);
const request = {
  newsletter_id: 'n1',
  subject: 'Hi {{name}}',
  text_content: 'Hello',
  recipients: [{ email: 'a@example.com', name: 'A', recipient_id: 'a' }],
};

/** refused runs a start that must be refused and returns the messages naming the fields. */
function refused(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    return err.message;
  }
  assert.fail('expected INVALID_ARGUMENT');
}

describe('StartWorkflow starters', () => {
  it('exist for every workflow type the generic API may start', () => {
    assert.deepEqual(Object.keys(start).sort(), [...WORKFLOW_TYPES].sort());
  });

  it('start a newsletter from a SendNewsletterRequest as SendNewsletter would: server settings, its own workflow id', () => {
    const { workflowId, args } = start['newsletterWorkflow']!([request], '');
    assert.equal(workflowId, 'newsletter-n1');
    const input = args[0] as NewsletterInput;
    assert.deepEqual([input.batchSize, input.concurrency, input.primaryProvider], [100, 5, 'resend']);
    assert.equal(input.content.from, 'news@example.com');
    assert.equal(args.length, 1, 'never a carried progress argument');
  });

  it('refuse what SendNewsletter would refuse, and what a caller must not choose', () => {
    // Forged progress: a second argument would be the carried state of continue-as-new.
    assert.match(refused(() => start['newsletterWorkflow']!([request, { books: {} }], '')), /takes one argument/);
    // The workflow's internal input (batchSize 0 would loop for ever, concurrency 0 hang) is not a request.
    const internal = { newsletterId: 'n1', content: {}, recipients: [], batchSize: 0, concurrency: 0 };
    assert.match(
      refused(() => start['newsletterWorkflow']!([internal], '')),
      /args_json\[0\]: not a SendNewsletterRequest/,
    );
    assert.match(
      refused(() => start['newsletterWorkflow']!([{ ...request, recipients: [{ email: 'nope' }] }], '')),
      /recipients\[0\]\.email/,
    );
    // Another workflow id would let two workflows share one newsletter's idempotency keys.
    assert.match(
      refused(() => start['newsletterWorkflow']!([request], 'custom-n1')),
      /workflow_id: a newsletter runs as "newsletter-n1"/,
    );
    assert.deepEqual(start['newsletterWorkflow']!([request], 'newsletter-n1').workflowId, 'newsletter-n1');
  });
});

describe('SignalWorkflow', () => {
  it('refuses arguments over 64 KiB before asking Temporal: each signal stays in the workflow history for good', async () => {
    // A client the check must not reach.
    const service = createWorkflowService({} as Client, 'q', defaults, { temporalCallMs: 1_000 });
    const argsJson = JSON.stringify({ note: 'x'.repeat(64 * 1024) });
    await assert.rejects(
      service.signalWorkflow({ workflowId: 'newsletter-n1', signalName: 'nudge', argsJson }, {} as never),
      (err: unknown) => err instanceof InvalidArgumentError && /args_json: at most 65536 bytes/.test(err.message),
    );
  });
});
