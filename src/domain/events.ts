/**
 * What happens to an email after the send, as the providers' webhooks report it, in one
 * vocabulary for both providers. Pure types and functions: the workflow bundle imports
 * this file.
 *
 * An event names its newsletter and recipient by itself: every email carries them in
 * provider metadata (Resend tags, Postmark Metadata: `newsletter_id`, `recipient_id`), so no
 * lookup table is needed. A recipient id that a provider cannot store as is (Resend tags take
 * [A-Za-z0-9_-]{1,256}, Postmark Metadata values 80 characters) travels as `sha256-<hex>` of it.
 */
import type { ProviderName } from './types.ts';

/** EVENT_KINDS are the events forwarded to the backend and counted. */
export const EVENT_KINDS = [
  'delivered',
  'delivery_delayed',
  'bounced',
  'complained',
  'opened',
  'clicked',
  'failed',
  'suppressed',
  'unsubscribed',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** DeliveryEvent is one provider event about one email of a newsletter. */
export interface DeliveryEvent {
  /** eventId is the provider's own id of the event (`resend:<svix-id>`, `postmark:<record>:<id>`): redeliveries repeat it. */
  eventId: string;
  provider: ProviderName;
  kind: EventKind;
  /** bounce says whether a bounce is permanent (hard) or not (soft). */
  bounce?: 'hard' | 'soft';
  newsletterId: string;
  /** recipientId is the backend's id as the email carried it (`sha256-…` when it could not carry it as is). */
  recipientId?: string;
  email: string;
  /** occurredAt is when the provider says it happened (ISO 8601). */
  occurredAt: string;
  /** messageId is the provider's id of the email. */
  messageId: string;
  /** detail is the provider's explanation (a bounce's description), when it gives one. */
  detail?: string;
}

/** Engagement counts a newsletter's events, each provider event once. */
export interface Engagement {
  delivered: number;
  bounced: number;
  complained: number;
  opened: number;
  clicked: number;
}

export const NO_ENGAGEMENT: Engagement = { delivered: 0, bounced: 0, complained: 0, opened: 0, clicked: 0 };

/** eventsWorkflowIdFor names the workflow that receives a newsletter's events. */
// The colon keeps it apart from every newsletter workflow id (`newsletter-<id>`: ids have no colon).
export const eventsWorkflowIdFor = (newsletterId: string): string => `newsletter-events:${newsletterId}`;

/** eventsCallbackWorkflowIdFor names the workflow that hands one batch of events to the backend (by its event id). */
export const eventsCallbackWorkflowIdFor = (eventId: string): string => `newsletter-events-callback:${eventId}`;

/**
 * METADATA_FIELDS are the metadata names every email carries (Resend tags, Postmark Metadata);
 * request is Postmark's only: the request a message went out in (src/providers/postmark).
 */
export const METADATA_FIELDS = {
  newsletterId: 'newsletter_id',
  recipientId: 'recipient_id',
  request: 'nl_request',
} as const;

/**
 * idMetadata is what an email carries to name its newsletter and recipient, each value as the
 * provider can store it (`encode`); a recipient without an id carries none (the encoding of ""
 * would name all of them alike).
 */
export function idMetadata(
  ids: { newsletterId: string; recipientId: string } | undefined,
  encode: (value: string) => string,
): Record<string, string> {
  if (!ids) return {};
  return {
    [METADATA_FIELDS.newsletterId]: encode(ids.newsletterId),
    ...(ids.recipientId ? { [METADATA_FIELDS.recipientId]: encode(ids.recipientId) } : {}),
  };
}

/** recipientIdOf is the recipient id a provider event carried back (idMetadata): none when absent or empty. */
export function recipientIdOf(metadata: Record<string, unknown> | undefined): { recipientId?: string } {
  const id = metadata?.[METADATA_FIELDS.recipientId];
  return typeof id === 'string' && id ? { recipientId: id } : {};
}

/**
 * eventTime is when a provider says an event happened: its own time when it reads as one,
 * else `fallback` (now). A stored suppression's time must parse: the API answers it as
 * a Timestamp.
 */
export function eventTime(value: unknown, fallback: () => string = () => new Date().toISOString()): string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? value : fallback();
}

/** eventDetail is a provider's explanation as an event carries it: at most 500 characters (it rides in signals and suppressions). */
export const eventDetail = (text: string | undefined): string | undefined => text ? text.slice(0, 500) : undefined;

/** WebhookRefused is a request that is not a genuine, well-formed provider webhook: the edge answers its status. */
export class WebhookRefused extends Error {
  readonly status: 400 | 401;
  constructor(status: 400 | 401, message: string) {
    super(message);
    this.name = 'WebhookRefused';
    this.status = status;
  }
}
