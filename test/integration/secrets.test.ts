/**
 * Secrets never leak: a newsletter runs with distinctive provider keys, service token and
 * signing secret, through a refusing provider, a failing provider and a failing backend, and
 * a caller with a wrong token; none of the secrets appears in a log line, a gRPC error, a
 * span, a metric or the workflow history.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RpcError } from '@protobuf-ts/runtime-rpc';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { verifySignature } from '../../contracts/http/signature.ts';
import { verifyUnsubscribeLink } from '../../contracts/http/unsubscribe.ts';
import { workflowIdFor } from '../../src/domain/types.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { historyStats } from '../support/history.ts';
import { spans, type Stack, startStack } from './harness.ts';

const SECRETS = {
  RESEND_API_KEY: 're_LEAKCHECK_resend_4f1c8a',
  POSTMARK_API_KEY: 'LEAKCHECK-postmark-9a2b77',
  INTERNAL_SERVICE_TOKEN: 'LEAKCHECK-token-77e1d0',
  CALLBACK_SIGNING_SECRET: 'LEAKCHECK-signing-3c5d19',
  UNSUBSCRIBE_SIGNING_SECRET: 'LEAKCHECK-unsubscribe-8d2e40',
};
const WRONG_TOKEN = 'LEAKCHECK-wrong-token-5511';

describe('secrets', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ ...SECRETS, LOG_LEVEL: 'debug', NEWSLETTER_BATCH_SIZE: '10' });
  });
  after(async () => {
    await stack?.close();
  });
  const auth = { meta: { authorization: `Bearer ${SECRETS.INTERNAL_SERVICE_TOKEN}` } };

  it('never appear in logs, gRPC errors, spans, metrics or workflow history, whatever fails', async () => {
    const errors: string[] = [];
    const refused = await stack.newsletters.getNewsletterStatus({ newsletterId: 'x' }, {
      meta: { authorization: `Bearer ${WRONG_TOKEN}` },
    }).response.then(() => assert.fail('a wrong token is refused'), (err: unknown) => err);
    assert.ok(refused instanceof RpcError);
    assert.equal(refused.code, 'UNAUTHENTICATED');
    errors.push(refused.message, JSON.stringify(refused.meta));
    // Resend refuses the key (401: fail over), Postmark fails once (500), the backend fails a few callbacks.
    stack.mock.resend.injectFault({ status: 401, durationMs: 600_000 });
    stack.mock.postmark.injectFault({ status: 500, count: 1 });
    stack.backend.failNext(3, 503);
    const id = newsletterId('secrets');
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(30, 'sec')), auth);
    const status = await eventually(async () => {
      const s = (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, auth).response).status!;
      return s.state === NewsletterState.COMPLETED && s.callbacksOwed === 0 ? s : undefined;
    }, 120_000);
    assert.deepEqual(status.sentByProvider, { postmark: 30 }, 'Resend refused, Postmark sent after one failure');
    // The secrets were in use: the backend got the token, and signatures by the secret.
    const callback = stack.backend.received.find((r) => r.event.newsletter_id === id)!;
    assert.equal(callback.authorization, `Bearer ${SECRETS.INTERNAL_SERVICE_TOKEN}`);
    assert.ok(
      verifySignature({ header: callback.signature, body: callback.body, secrets: [SECRETS.CALLBACK_SIGNING_SECRET] })
        .ok,
    );
    // Every email's unsubscribe link is signed by its secret.
    const sent = stack.mock.postmark.received().filter((e) => e.to[0]!.startsWith('sec'));
    assert.equal(sent.length, 30);
    for (const email of sent) {
      const url = /^<(.*)>$/.exec(email.headers['List-Unsubscribe'] ?? '')?.[1] ?? '';
      assert.ok(verifyUnsubscribeLink({ url, secrets: [SECRETS.UNSUBSCRIBE_SIGNING_SECRET] }).ok, url);
    }

    const metrics = await Promise.all(
      [stack.ops.bridgePort, stack.ops.workerPort].map(async (port) =>
        (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      ),
    );
    const places: Record<string, string> = {
      logs: stack.logs.join(''),
      'gRPC errors': errors.join('\n'),
      spans: JSON.stringify(
        spans.getFinishedSpans().map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })),
      ),
      metrics: metrics.join('\n'),
      'workflow history': (await historyStats(stack.env.client, workflowIdFor(id))).text,
    };
    assert.ok(places['logs']!.length > 2_000, `debug logs were written (${places['logs']!.length} characters)`);
    assert.ok(places['logs']!.includes('failing over'), 'the refusals were logged');
    const leaks: string[] = [];
    for (const [where, text] of Object.entries(places)) {
      for (const [name, secret] of Object.entries({ ...SECRETS, WRONG_TOKEN })) {
        if (text.includes(secret)) leaks.push(`${name} in ${where}`);
      }
    }
    assert.deepEqual(leaks, []);
  });
});
