/**
 * Postmark's webhooks (one JSON record per POST, `RecordType`), read into DeliveryEvents.
 * Postmark does not sign them: the edge checks the basic auth credentials first. Postmark's
 * records carry no event id, so one is made of what identifies the record (its type, the
 * bounce ID or the message, and the time). A record about an email this service did not
 * send (no `newsletter_id` in its Metadata) is undefined, as is one this service does not act on.
 */
import {
  type DeliveryEvent,
  eventDetail,
  type EventKind,
  eventTime,
  METADATA_FIELDS,
  recipientIdOf,
  WebhookRefused,
} from '../../domain/events.ts';
import { metadataValue } from './metadata.ts';

/**
 * AUTOMATIC_REPLIES are the Bounce record types that are answers to an email that was delivered
 * (an out-of-office reply, say), not failures: Postmark's bounce webhook carries them too.
 */
const AUTOMATIC_REPLIES = new Set([
  'AutoResponder',
  'AddressChange',
  'Subscribe',
  'ChallengeVerification',
  'OpenRelayTest',
]);
/** PERMANENT_BOUNCES are the Bounce record types of an address that will never take mail; the others may pass later. */
const PERMANENT_BOUNCES = new Set(['HardBounce', 'BadEmailAddress', 'ManuallyDeactivated']);

/** readPostmarkWebhook reads one record; WebhookRefused(400) when it is not one. */
export function readPostmarkWebhook(body: string): DeliveryEvent | undefined {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(body);
  } catch {
    throw new WebhookRefused(400, 'the body is not JSON');
  }
  if (typeof record !== 'object' || record === null || typeof record.RecordType !== 'string') {
    throw new WebhookRefused(400, 'RecordType is required');
  }
  const text = (key: string) => (typeof record[key] === 'string' ? record[key] as string : undefined);
  let kind: EventKind;
  let at: string | undefined;
  let bounce: 'hard' | 'soft' | undefined;
  switch (record.RecordType) {
    case 'Delivery':
      [kind, at] = ['delivered', text('DeliveredAt')];
      break;
    case 'Bounce': {
      const type = text('Type') ?? '';
      if (AUTOMATIC_REPLIES.has(type)) return undefined;
      at = text('BouncedAt');
      if (type === 'Unsubscribe') {
        // A reply asking to be taken off the list: an opt-out, as good as the unsubscribe link.
        kind = 'unsubscribed';
        break;
      }
      if (type === 'Transient') {
        // "Message delayed": Postmark goes on trying, and a delivery or a bounce follows.
        kind = 'delivery_delayed';
        break;
      }
      if (type === 'SpamComplaint') {
        // A complaint reported through the bounce hook: counted (and suppressed) as a complaint.
        kind = 'complained';
        break;
      }
      kind = 'bounced';
      // Postmark deactivated the address (Inactive), or the type says it will never take mail: hard.
      bounce = record.Inactive === true || PERMANENT_BOUNCES.has(type) ? 'hard' : 'soft';
      break;
    }
    case 'SpamComplaint':
      [kind, at] = ['complained', text('BouncedAt')];
      break;
    case 'Open':
      [kind, at] = ['opened', text('ReceivedAt')];
      break;
    case 'Click':
      [kind, at] = ['clicked', text('ReceivedAt')];
      break;
    case 'SubscriptionChange':
      // The recipient used the unsubscribe link Postmark's broadcast streams add: no more mail,
      // through either provider. Postmark's suppressions for a bounce or a complaint come with
      // their own Bounce and SpamComplaint records, and its reactivations do not take an address
      // off this service's list (RemoveSuppression does).
      if (record.SuppressSending !== true || text('SuppressionReason') !== 'ManualSuppression') return undefined;
      [kind, at] = ['unsubscribed', text('ChangedAt')];
      break;
    default:
      return undefined;
  }
  const metadata = record.Metadata as Record<string, unknown> | undefined;
  const stored = metadata?.[METADATA_FIELDS.newsletterId];
  if (typeof stored !== 'string') return undefined;
  // An id over Metadata's 80 characters travels hashed there, and whole in the message's Tag.
  const tag = text('Tag');
  const newsletterId = tag !== undefined && stored !== tag && metadataValue(tag) === stored ? tag : stored;
  const messageId = text('MessageID');
  const email = text('Recipient') ?? text('Email');
  if (!messageId || !email) throw new WebhookRefused(400, 'MessageID and Recipient (or Email) are required');
  const recordId = record.ID === undefined ? messageId : String(record.ID);
  return {
    eventId: `postmark:${record.RecordType}:${recordId}:${at ?? ''}`,
    provider: 'postmark',
    kind,
    ...(bounce ? { bounce } : {}),
    newsletterId,
    ...recipientIdOf(metadata),
    email: email.toLowerCase(),
    occurredAt: eventTime(at),
    messageId,
    // Details is the receiving server's own words (smtp;550 5.1.1 …); Description the same text for every one of a Type.
    ...(text('Details') || text('Description') ? { detail: eventDetail(text('Details') || text('Description')) } : {}),
  };
}
