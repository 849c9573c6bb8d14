import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReceivedEmail } from '../../../mock-providers/types.ts';
import { resendWebhook, signResend } from '../../../mock-providers/webhooks.ts';
import { WebhookRefused } from '../../domain/events.ts';
import { readResendWebhook } from './webhooks.ts';

const SECRET = `whsec_${Buffer.from('resend webhook spec secret').toString('base64')}`;

const email: ReceivedEmail = {
  provider: 'resend',
  messageId: 'e1',
  from: 'news@example.com',
  to: ['Ada <ada@example.com>'],
  subject: 'Hi',
  headers: {},
  tags: { newsletter_id: 'nl1', recipient_id: 'r1' },
  receivedAt: new Date().toISOString(),
};

const read = (kind: Parameters<typeof resendWebhook>[1]) => {
  const { headers, body } = resendWebhook(email, kind, SECRET);
  return readResendWebhook(body, {
    id: headers['svix-id'],
    timestamp: headers['svix-timestamp'],
    signature: headers['svix-signature'],
  }, SECRET);
};

describe('readResendWebhook', () => {
  it("keeps why Resend did not send or keeps mail from an address (email.failed's reason, email.suppressed's message), as for a bounce", () => {
    assert.match(read('failed')?.detail ?? '', /quota/);
    assert.match(read('suppressed')?.detail ?? '', /suppression list/);
    assert.match(read('bounced')?.detail ?? '', /does not exist/);
    assert.equal(read('delivered')?.detail, undefined);
  });

  it('refuses a signed body that is not an event as malformed (400), not as a bad signature (401) nor by crashing', () => {
    const timestamp = Math.floor(Date.now() / 1000);
    for (const body of ['not json', 'null', '[]', '"text"']) {
      const signature = signResend(SECRET, 'msg_1', timestamp, body);
      assert.throws(
        () => readResendWebhook(body, { id: 'msg_1', timestamp: String(timestamp), signature }, SECRET),
        (err: unknown) => err instanceof WebhookRefused && err.status === 400,
        body,
      );
    }
  });
});
