/**
 * Webhooks as the real providers send them, for emails the mock accepted: Resend's signed
 * the Standard Webhooks (Svix) way (`svix-id`, `svix-timestamp`, `svix-signature: v1,<base64
 * HMAC-SHA256 of "id.timestamp.body" keyed by the base64 part of the whsec_ secret>`), with
 * `{type, created_at, data: {email_id, to, tags, bounce, ...}}`; Postmark's one JSON record
 * per POST (`RecordType`, `MessageID`, `Recipient`/`Email`, `Metadata`, bounce `Type`; an
 * unsubscribe through the broadcast stream's link as `SubscriptionChange`),
 * protected by HTTP basic auth in the webhook URL as Postmark recommends.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { MockProviderName, ReceivedEmail } from './types.ts';
import { Buffer } from 'node:buffer';

/** MockEventKind is what happened to an email, in the mock's words (one for each provider event we model). */
export const MOCK_EVENT_KINDS = [
  'delivered',
  'delivery_delayed',
  'bounced',
  'soft_bounced',
  'complained',
  'opened',
  'clicked',
  'failed',
  'suppressed',
  'unsubscribed',
] as const;
export type MockEventKind = (typeof MOCK_EVENT_KINDS)[number];

/** WebhookTarget is where a provider's webhooks go: Resend's with its signing secret, Postmark's with basic auth. */
export interface WebhookTarget {
  url: string;
  /** secret signs Resend webhooks (`whsec_<base64>`). */
  secret?: string;
  /** user and password are Postmark's basic auth credentials. */
  user?: string;
  password?: string;
}

/** WebhookDelivery is one POST as it would leave the provider. */
export interface WebhookDelivery {
  headers: Record<string, string>;
  body: string;
}

/** RESEND_TYPES: Resend reports no unsubscribes (it adds no unsubscribe link to what it sends). */
const RESEND_TYPES: Record<Exclude<MockEventKind, 'unsubscribed'>, string> = {
  delivered: 'email.delivered',
  delivery_delayed: 'email.delivery_delayed',
  bounced: 'email.bounced',
  soft_bounced: 'email.bounced',
  complained: 'email.complained',
  opened: 'email.opened',
  clicked: 'email.clicked',
  failed: 'email.failed',
  suppressed: 'email.suppressed',
};

const bareAddress = (to: string): string => /<([^>]+)>/.exec(to)?.[1] ?? to;

/** signResend signs body the Standard Webhooks way, as Resend does. */
export function signResend(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${
    createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest(
      'base64',
    )
  }`;
}

/** resendWebhook renders Resend's webhook for kind on email, signed with secret. */
export function resendWebhook(
  email: ReceivedEmail,
  kind: MockEventKind,
  secret: string,
  now = new Date(),
  id = `msg_${randomUUID().replaceAll('-', '')}`,
): WebhookDelivery {
  if (kind === 'unsubscribed') throw new Error('Resend sends no unsubscribe webhook');
  const data: Record<string, unknown> = {
    created_at: email.receivedAt,
    email_id: email.messageId,
    message_id: `<${email.messageId}@resend.dev>`,
    from: email.from,
    to: email.to.map(bareAddress),
    subject: email.subject,
    tags: email.tags,
  };
  if (kind === 'bounced' || kind === 'soft_bounced') {
    data.bounce = kind === 'bounced'
      ? {
        type: 'Permanent',
        subType: 'General',
        message: 'The recipient address does not exist.',
      }
      : {
        type: 'Transient',
        subType: 'MailboxFull',
        message: 'The mailbox is full.',
      };
  }
  if (kind === 'clicked') {
    data.click = {
      ipAddress: '192.0.2.1',
      link: 'https://example.com/',
      timestamp: now.toISOString(),
      userAgent: 'Mozilla/5.0',
    };
  }
  // Why Resend did not send it, or kept it from the address, as its documented examples have it.
  if (kind === 'failed') data.failed = { reason: 'reached_daily_quota' };
  if (kind === 'suppressed') {
    data.suppressed = {
      message: 'Resend has suppressed sending to this address because it is on the account-level suppression list.',
      type: 'OnAccountSuppressionList',
    };
  }
  const body = JSON.stringify({
    type: RESEND_TYPES[kind],
    created_at: now.toISOString(),
    data,
  });
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    headers: {
      'content-type': 'application/json',
      'svix-id': id,
      'svix-timestamp': String(timestamp),
      'svix-signature': signResend(secret, id, timestamp, body),
    },
    body,
  };
}

let postmarkIds = 1_000;

/** postmarkWebhook renders Postmark's webhook record for kind on email (no signature: basic auth protects it). */
export function postmarkWebhook(
  email: ReceivedEmail,
  kind: MockEventKind,
  now = new Date(),
): WebhookDelivery {
  const at = now.toISOString();
  const common = {
    MessageID: email.messageId,
    MessageStream: email.messageStream ?? 'outbound',
    Metadata: email.tags,
    Tag: email.tag ?? '',
  };
  const recipient = bareAddress(email.to[0] ?? '');
  let record: Record<string, unknown>;
  switch (kind) {
    case 'delivered':
      record = {
        RecordType: 'Delivery',
        Recipient: recipient,
        DeliveredAt: at,
        Details: 'Test delivery',
        ...common,
      };
      break;
    case 'bounced':
    case 'soft_bounced':
    case 'failed':
      record = {
        RecordType: 'Bounce',
        ID: postmarkIds++,
        Type: kind === 'soft_bounced' ? 'SoftBounce' : 'HardBounce',
        TypeCode: kind === 'soft_bounced' ? 4096 : 1,
        Email: recipient,
        BouncedAt: at,
        Inactive: kind !== 'soft_bounced',
        Description: kind === 'soft_bounced'
          ? 'The mailbox is full.'
          : 'The server was unable to deliver your message.',
        // The receiving server's own words, as Postmark passes them on.
        Details: kind === 'soft_bounced'
          ? 'smtp;452 4.2.2 The email account that you tried to reach is over quota.'
          : 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
        ...common,
      };
      break;
    case 'complained':
      record = {
        RecordType: 'SpamComplaint',
        ID: postmarkIds++,
        Type: 'SpamComplaint',
        Email: recipient,
        BouncedAt: at,
        Inactive: true,
        ...common,
      };
      break;
    case 'opened':
      record = {
        RecordType: 'Open',
        Recipient: recipient,
        ReceivedAt: at,
        FirstOpen: true,
        ...common,
      };
      break;
    case 'clicked':
      record = {
        RecordType: 'Click',
        Recipient: recipient,
        ReceivedAt: at,
        OriginalLink: 'https://example.com/',
        ClickLocation: 'HTML',
        ...common,
      };
      break;
    case 'unsubscribed':
      // The recipient used the unsubscribe link of a broadcast stream: Postmark stops mail to the address in it.
      record = {
        RecordType: 'SubscriptionChange',
        ServerID: 1,
        ChangedAt: at,
        Recipient: recipient,
        Origin: 'Recipient',
        SuppressSending: true,
        SuppressionReason: 'ManualSuppression',
        ...common,
      };
      break;
    case 'delivery_delayed':
    case 'suppressed':
      // Postmark has no such webhook: a suppressed send is refused at once (406), a delay is not reported.
      throw new Error(`Postmark sends no ${kind} webhook`);
  }
  return {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(record),
  };
}

/** webhookFor renders the webhook provider would send for kind on email. */
export function webhookFor(
  provider: MockProviderName,
  email: ReceivedEmail,
  kind: MockEventKind,
  target: WebhookTarget,
): WebhookDelivery {
  if (provider === 'resend') {
    if (!target.secret) {
      throw new Error('Resend webhooks need a signing secret');
    }
    return resendWebhook(email, kind, target.secret);
  }
  const delivery = postmarkWebhook(email, kind);
  if (target.user !== undefined) {
    const credentials = Buffer.from(`${target.user}:${target.password ?? ''}`)
      .toString('base64');
    delivery.headers.authorization = `Basic ${credentials}`;
  }
  return delivery;
}

/** post sends one webhook and answers the HTTP status (0 when the target could not be reached). */
export async function post(
  target: WebhookTarget,
  delivery: WebhookDelivery,
): Promise<number> {
  try {
    const response = await fetch(target.url, {
      method: 'POST',
      headers: delivery.headers,
      body: delivery.body,
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}
