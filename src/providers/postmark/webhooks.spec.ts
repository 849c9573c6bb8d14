import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebhookRefused } from '../../domain/events.ts';
import { metadataValue } from './metadata.ts';
import { readPostmarkWebhook } from './webhooks.ts';

const metadata = { newsletter_id: 'nl-1', recipient_id: 'r-1' };
const read = (record: Record<string, unknown>) => readPostmarkWebhook(JSON.stringify(record));

describe('readPostmarkWebhook', () => {
  it('reads each record type we count into one event vocabulary, named by its Metadata', () => {
    const base = { MessageID: 'm-1', Metadata: metadata };
    const delivered = read({
      RecordType: 'Delivery',
      Recipient: 'A@Example.com',
      DeliveredAt: '2026-01-01T00:00:00Z',
      ...base,
    });
    assert.deepEqual(delivered, {
      eventId: 'postmark:Delivery:m-1:2026-01-01T00:00:00Z',
      provider: 'postmark',
      kind: 'delivered',
      newsletterId: 'nl-1',
      recipientId: 'r-1',
      email: 'a@example.com',
      occurredAt: '2026-01-01T00:00:00Z',
      messageId: 'm-1',
    });
    const hard = read({
      RecordType: 'Bounce',
      ID: 7,
      Type: 'HardBounce',
      Inactive: true,
      Email: 'a@example.com',
      ...base,
    });
    assert.deepEqual([hard?.kind, hard?.bounce, hard?.eventId.startsWith('postmark:Bounce:7:')], [
      'bounced',
      'hard',
      true,
    ]);
    const soft = read({
      RecordType: 'Bounce',
      ID: 8,
      Type: 'SoftBounce',
      Inactive: false,
      Email: 'a@example.com',
      ...base,
    });
    assert.equal(soft?.bounce, 'soft');
    const wordy = read({
      RecordType: 'Bounce',
      ID: 9,
      Type: 'HardBounce',
      Email: 'a@example.com',
      Description: 'x'.repeat(10_000),
      ...base,
    });
    assert.equal(wordy?.detail?.length, 500, 'an explanation is kept to 500 characters');
    assert.equal(read({ RecordType: 'SpamComplaint', ID: 9, Email: 'a@example.com', ...base })?.kind, 'complained');
    assert.equal(read({ RecordType: 'Open', Recipient: 'a@example.com', ...base })?.kind, 'opened');
    assert.equal(read({ RecordType: 'Click', Recipient: 'a@example.com', ...base })?.kind, 'clicked');
  });

  it('reads a Bounce record by its Type: replies that are not failures are not bounces, an address Postmark calls bad is a hard one, a reply asking to be removed is an unsubscribe', () => {
    const bounce = (Type: string, Inactive = false) =>
      read({
        RecordType: 'Bounce',
        ID: 10,
        Type,
        Inactive,
        Email: 'a@example.com',
        MessageID: 'm-1',
        Metadata: metadata,
      });
    // Postmark's bounce webhook also carries out-of-office and other automatic replies to an email that was delivered.
    for (const reply of ['AutoResponder', 'AddressChange', 'Subscribe', 'ChallengeVerification', 'OpenRelayTest']) {
      assert.equal(bounce(reply), undefined, `${reply} is a reply, not a failure`);
    }
    for (const permanent of ['HardBounce', 'BadEmailAddress', 'ManuallyDeactivated']) {
      assert.deepEqual([bounce(permanent)?.kind, bounce(permanent)?.bounce], ['bounced', 'hard'], permanent);
    }
    for (const temporary of ['SoftBounce', 'DnsError', 'Blocked', 'SpamNotification', 'Unknown']) {
      assert.deepEqual([bounce(temporary)?.kind, bounce(temporary)?.bounce], ['bounced', 'soft'], temporary);
    }
    // Postmark's "message delayed": a delivery may follow (as Resend's email.delivery_delayed), not a bounce.
    assert.deepEqual([bounce('Transient')?.kind, bounce('Transient')?.bounce], ['delivery_delayed', undefined]);
    // A complaint Postmark reports through its bounce hook is a complaint (the alert and the backend count it so).
    assert.deepEqual([bounce('SpamComplaint', true)?.kind, bounce('SpamComplaint', true)?.bounce], [
      'complained',
      undefined,
    ]);
    assert.equal(
      bounce('SoftBounce', true)?.bounce,
      'hard',
      'Postmark deactivated the address: hard, whatever the type',
    );
    // A reply asking to be taken off the list is an opt-out like the unsubscribe link (CAN-SPAM honours both).
    assert.equal(bounce('Unsubscribe')?.kind, 'unsubscribed');
  });

  it("gives a bounce's SMTP diagnostic (Details) as its detail, not the text its Type always has (Description)", () => {
    const record = {
      RecordType: 'Bounce',
      ID: 11,
      Type: 'HardBounce',
      Email: 'a@example.com',
      MessageID: 'm-1',
      Metadata: metadata,
      Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
    };
    assert.equal(read({ ...record, Details: 'smtp;550 5.1.1 no such user' })?.detail, 'smtp;550 5.1.1 no such user');
    assert.match(read({ ...record, Details: '' })?.detail ?? '', /unable to deliver/);
  });

  it('ignores what is not about our emails, and refuses what is not a record', () => {
    assert.equal(read({ RecordType: 'Delivery', MessageID: 'm', Recipient: 'a@example.com', Metadata: {} }), undefined);
    assert.throws(() => readPostmarkWebhook('{'), (err: WebhookRefused) => err.status === 400);
    assert.throws(() => read({ Recipient: 'a@example.com' }), (err: WebhookRefused) => err.status === 400);
    assert.throws(() => read({ RecordType: 'Delivery', Metadata: metadata }), /MessageID and Recipient/);
  });

  it("reads an unsubscribe through Postmark's own link as unsubscribed; its suppressions for bounces and complaints and its reactivations are not events", () => {
    // As Postmark sends it when a recipient uses the broadcast stream's unsubscribe link.
    const change = {
      RecordType: 'SubscriptionChange',
      MessageID: 'm-2',
      ServerID: 1,
      MessageStream: 'broadcast',
      ChangedAt: '2026-01-02T00:00:00Z',
      Recipient: 'B@Example.com',
      Origin: 'Recipient',
      SuppressSending: true,
      SuppressionReason: 'ManualSuppression',
      Tag: 'nl-1',
      Metadata: metadata,
    };
    assert.deepEqual(read(change), {
      eventId: 'postmark:SubscriptionChange:m-2:2026-01-02T00:00:00Z',
      provider: 'postmark',
      kind: 'unsubscribed',
      newsletterId: 'nl-1',
      recipientId: 'r-1',
      email: 'b@example.com',
      occurredAt: '2026-01-02T00:00:00Z',
      messageId: 'm-2',
    });
    // The Bounce and SpamComplaint records report those (counting them here would count them twice).
    assert.equal(read({ ...change, SuppressionReason: 'HardBounce' }), undefined);
    assert.equal(read({ ...change, SuppressionReason: 'SpamComplaint' }), undefined);
    // Reactivated at Postmark: this service's list keeps the address until RemoveSuppression.
    assert.equal(read({ ...change, SuppressSending: false }), undefined);
  });

  it('reads a record whose time is missing or not a time as happening now, so the suppression list stays readable', () => {
    const before = Date.now();
    for (const BouncedAt of [undefined, '', 'yesterday']) {
      const event = read({
        RecordType: 'Bounce',
        ID: 5,
        Type: 'HardBounce',
        Email: 'a@example.com',
        BouncedAt,
        MessageID: 'm-5',
        Metadata: metadata,
      });
      const at = Date.parse(event!.occurredAt);
      assert.ok(at >= before && at <= Date.now(), `${BouncedAt} read as ${event!.occurredAt}`);
    }
  });

  it("names a newsletter whose id is over Metadata's 80 characters by its Tag, which holds it whole", () => {
    const long = 'n'.repeat(128);
    const event = read({
      RecordType: 'Delivery',
      MessageID: 'm-9',
      Recipient: 'a@example.com',
      DeliveredAt: '2026-01-01T00:00:00Z',
      Tag: long,
      Metadata: { newsletter_id: metadataValue(long), recipient_id: 'r-1' },
    });
    assert.equal(event?.newsletterId, long);
  });
});
