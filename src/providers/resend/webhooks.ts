/**
 * Resend's webhooks: verified with the official SDK (`webhooks.verify`: Standard Webhooks
 * signature, timestamps at most 5 minutes off), then read into DeliveryEvents. An event about
 * an email this service did not send (no `newsletter_id` tag), or of a type that is not about
 * delivery, is nobody's business here: undefined.
 */
import { Resend } from 'resend';
import {
  type DeliveryEvent,
  eventDetail,
  type EventKind,
  eventTime,
  METADATA_FIELDS,
  recipientIdOf,
  WebhookRefused,
} from '../../domain/events.ts';

const KINDS: Record<string, EventKind> = {
  'email.delivered': 'delivered',
  'email.delivery_delayed': 'delivery_delayed',
  'email.bounced': 'bounced',
  'email.complained': 'complained',
  'email.opened': 'opened',
  'email.clicked': 'clicked',
  'email.failed': 'failed',
  'email.suppressed': 'suppressed',
};

/** ResendHeaders are the three Standard Webhooks headers. */
export interface ResendHeaders {
  id?: string;
  timestamp?: string;
  signature?: string;
}

/** SIGNATURE_TOLERANCE_S is how far a timestamp may be from now: the SDK's own (Standard Webhooks), in both directions. */
const SIGNATURE_TOLERANCE_S = 5 * 60;

/**
 * checkResendHeaders refuses (401) a request that cannot verify from its headers alone: one of
 * them missing, or signed more than 5 minutes from now. The endpoint calls it before it reads
 * the body (anyone may send one); readResendWebhook again, the SDK last.
 */
export function checkResendHeaders(headers: ResendHeaders, now = Date.now()): void {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) {
    throw new WebhookRefused(401, 'svix-id, svix-timestamp and svix-signature are required');
  }
  // Read as the SDK reads it (parseInt, base 10).
  const seconds = Number.parseInt(timestamp, 10);
  if (!Number.isFinite(seconds) || Math.abs(now / 1000 - seconds) > SIGNATURE_TOLERANCE_S) {
    throw new WebhookRefused(401, 'the timestamp is more than 5 minutes off');
  }
}

/** readResendWebhook verifies body with secret and returns its event, or undefined when it is not about our emails. */
export function readResendWebhook(body: string, headers: ResendHeaders, secret: string): DeliveryEvent | undefined {
  checkResendHeaders(headers);
  const { id, timestamp, signature } = headers as Required<ResendHeaders>;
  let payload: unknown;
  try {
    // The SDK checks the signature and the timestamp's age; the key is not needed for that.
    payload = new Resend('re_webhook_verification').webhooks.verify({
      payload: body,
      headers: { id, timestamp, signature },
      webhookSecret: secret,
    });
  } catch (err) {
    // The SDK parses the body once the signature verifies: a body that is not JSON was signed, but is no event.
    if (err instanceof SyntaxError) throw new WebhookRefused(400, 'the body is not JSON');
    throw new WebhookRefused(401, 'signature does not verify (or the timestamp is more than 5 minutes off)');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new WebhookRefused(400, 'the body is not an event object');
  }
  const event = payload as { type?: unknown; created_at?: unknown; data?: Record<string, unknown> };
  const kind = typeof event.type === 'string' ? KINDS[event.type] : undefined;
  if (!kind) return undefined;
  const data = event.data;
  const tags = data?.tags as Record<string, unknown> | undefined;
  const newsletterId = tags?.[METADATA_FIELDS.newsletterId];
  if (typeof newsletterId !== 'string') return undefined;
  const to = Array.isArray(data?.to) ? data.to : [];
  if (typeof data?.email_id !== 'string' || typeof to[0] !== 'string') {
    throw new WebhookRefused(400, 'data.email_id and data.to are required');
  }
  const bounce = data.bounce as { type?: string; message?: string } | undefined;
  // Why it bounced, was not sent (email.failed) or was kept from the address (email.suppressed).
  const why = bounce?.message ?? (data.failed as { reason?: string } | undefined)?.reason ??
    (data.suppressed as { message?: string } | undefined)?.message;
  return {
    eventId: `resend:${id}`,
    provider: 'resend',
    kind,
    ...(kind === 'bounced' ? { bounce: bounce?.type === 'Permanent' ? 'hard' : 'soft' } : {}),
    newsletterId,
    ...recipientIdOf(tags),
    email: to[0].toLowerCase(),
    occurredAt: eventTime(event.created_at, () => new Date(Number(timestamp) * 1000).toISOString()),
    messageId: data.email_id,
    ...(typeof why === 'string' && why ? { detail: eventDetail(why) } : {}),
  };
}
