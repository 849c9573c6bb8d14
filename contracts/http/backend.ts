/**
 * The wire types of the backend API this service calls (backend.openapi.yaml beside this
 * file): what the backend receives and what it answers. The service builds and parses
 * exactly these; a backend in TypeScript can import them too.
 */

/** NewsletterState is a newsletter's state in lifecycle events. */
export type NewsletterState =
  | 'RUNNING'
  | 'PAUSED'
  | 'COMPLETED'
  | 'COMPLETED_WITH_FAILURES'
  | 'CANCELLED'
  | 'FAILED';

/** NewsletterStatusEvent is the body of reportNewsletterStatus (`started`, `paused:<n>`, `final`). */
export interface NewsletterStatusEvent {
  event_id: string;
  newsletter_id: string;
  state: NewsletterState;
  total: number;
  sent: number;
  failed: number;
  skipped: number;
}

/** RecipientResult is one recipient's outcome in a results event. */
export interface RecipientResult {
  recipient_id: string;
  email: string;
  /**
   * skipped: nothing was sent, the address being suppressed: on the service's own list (error
   * `suppressed (<reason>)`; the provider was not asked) or by the provider (bounce, complaint, unsubscribe).
   */
  status: 'sent' | 'failed' | 'skipped';
  /** provider is "resend" or "postmark". */
  provider: string;
  message_id?: string;
  error?: string;
}

/** NewsletterResultsEvent is the body of reportNewsletterResults: every recipient of one provider request. */
export interface NewsletterResultsEvent {
  /** event_id names the provider request: `<newsletter_id>:results:b<batch>-<provider>[-p<first>-<last>-n<count>|-m<first>-<last>-n<count>]`; a retried request keeps it. */
  event_id: string;
  newsletter_id: string;
  batch: number;
  results: RecipientResult[];
}

/** ListedRecipient is one recipient in a page of listRecipients. */
export interface ListedRecipient {
  email: string;
  name?: string;
  recipient_id?: string;
  variables?: Record<string, string>;
}

/** RecipientPage is the answer of listRecipients: next_cursor empty or absent on the last page. */
export interface RecipientPage {
  recipients: ListedRecipient[];
  next_cursor?: string;
}

/** DeliveryEventKind is what happened to an email after the send, as a provider reported it. */
export type DeliveryEventKind =
  | 'delivered'
  | 'delivery_delayed'
  | 'bounced'
  | 'complained'
  | 'opened'
  | 'clicked'
  | 'failed'
  | 'suppressed'
  /** unsubscribed: the recipient used a provider's own unsubscribe link (Postmark's broadcast streams add one) or replied asking to be taken off the list. */
  | 'unsubscribed';

/** DeliveryEventRecord is one provider event about one recipient's email. */
export interface DeliveryEventRecord {
  /** event_id is the provider's id of the event: a redelivered event keeps it (ignore repeats). */
  event_id: string;
  kind: DeliveryEventKind;
  /** bounce: "hard" (permanent: the address is suppressed) or "soft" (temporary). */
  bounce?: 'hard' | 'soft';
  provider: string;
  email: string;
  /** recipient_id as the email carried it (`sha256-<hex>` of it when the provider could not carry it as is). */
  recipient_id?: string;
  message_id: string;
  occurred_at: string;
  detail?: string;
}

/** NewsletterEventsEvent is the body of reportNewsletterEvents: a batch of up to 500 provider events, in arrival order. */
export interface NewsletterEventsEvent {
  /** event_id names the batch (`<newsletter_id>:events:<chain>-<n>`; `<chain>` is new when a newsletter's events resume after 45 quiet days): a retried batch keeps it. */
  event_id: string;
  newsletter_id: string;
  events: DeliveryEventRecord[];
}
