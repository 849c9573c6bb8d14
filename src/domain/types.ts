/**
 * The newsletter domain shared by the bridge, the workflow and the activities.
 * Pure types and constants: the workflow bundle imports this file, so it must stay
 * free of Node built-ins and I/O.
 */

/** PROVIDERS lists every email provider: the one list every other list of providers derives from. */
export const PROVIDERS = ['resend', 'postmark'] as const;

/** ProviderName names an email provider. */
export type ProviderName = (typeof PROVIDERS)[number];

/** providerOrder is the order a batch tries the providers in: the primary first, then the others. */
export function providerOrder(primary: ProviderName): ProviderName[] {
  return [primary, ...PROVIDERS.filter((name) => name !== primary)];
}

/** MAX_INLINE_RECIPIENTS bounds recipients per SendNewsletter so the workflow input stays far below Temporal's 2 MiB payload limit. */
export const MAX_INLINE_RECIPIENTS = 10_000;

/** MAX_INPUT_BYTES bounds the serialized workflow input (recipients + templates): 1.5 MiB of Temporal's 2 MiB. */
export const MAX_INPUT_BYTES = 1_572_864;

/** MAX_REPORTED_FAILURES bounds the failures kept in the status; counts stay exact. */
export const MAX_REPORTED_FAILURES = 100;

/** Recipient is one addressee with its personalization variables. */
export interface Recipient {
  email: string;
  name: string;
  variables: Record<string, string>;
  recipientId: string;
}

/** NewsletterContent is what every recipient gets, before personalization. */
export interface NewsletterContent {
  subject: string;
  html?: string;
  text?: string;
  from: string;
  replyTo?: string;
  tags: Record<string, string>;
}

/** NewsletterInput is the workflow's input: the whole plan of one send, fixed at start. */
export interface NewsletterInput {
  newsletterId: string;
  content: NewsletterContent;
  recipients: Recipient[];
  batchSize: number;
  concurrency: number;
  primaryProvider: ProviderName;
  /** unsubscribeBaseUrl is FRONTEND_URL; each email links to its recipient's unsubscribe page. */
  unsubscribeBaseUrl: string;
  /** traceId is the OpenTelemetry trace of the SendNewsletter call, for logs and the status. */
  traceId?: string;
}

/** NewsletterState mirrors the proto enum, as strings so histories stay readable. */
export type NewsletterState =
  | 'RUNNING'
  | 'PAUSED'
  | 'COMPLETED'
  | 'COMPLETED_WITH_FAILURES'
  | 'CANCELLED'
  | 'FAILED';

/** FINAL_STATES are the states a newsletter never leaves. */
export const FINAL_STATES: readonly NewsletterState[] = ['COMPLETED', 'COMPLETED_WITH_FAILURES', 'CANCELLED', 'FAILED'];

/** RecipientFailure records why one recipient did not get the newsletter. */
export interface RecipientFailure {
  email: string;
  recipientId: string;
  reason: string;
  provider: string;
}

/** NewsletterStatus is the progress snapshot the workflow reports (query and result). */
export interface NewsletterStatus {
  newsletterId: string;
  state: NewsletterState;
  totalRecipients: number;
  sent: number;
  failed: number;
  skipped: number;
  batchesTotal: number;
  batchesCompleted: number;
  sentByProvider: Record<string, number>;
  failures: RecipientFailure[];
  startTime: string;
  endTime?: string;
  reason?: string;
  traceId?: string;
}

/** BatchRecipient is a recipient with its position within its batch (stable across retries and failover). */
export interface BatchRecipient extends Recipient {
  position: number;
}

/** RecipientResult is one recipient's outcome within a batch. */
export interface RecipientResult {
  position: number;
  recipientId: string;
  email: string;
  status: 'sent' | 'failed';
  provider: ProviderName;
  messageId?: string;
  error?: string;
}

/** SendBatchInput is what one batch activity needs: only its own recipients (those not yet settled). */
export interface SendBatchInput {
  newsletterId: string;
  batchIndex: number;
  provider: ProviderName;
  /** failoverTo is the provider the workflow tries next if this one refuses the batch (absent: none left). */
  failoverTo?: ProviderName;
  content: NewsletterContent;
  recipients: BatchRecipient[];
  unsubscribeBaseUrl: string;
}

/** SendBatchResult lists the outcome of every recipient of the batch, in order. */
export interface SendBatchResult {
  provider: ProviderName;
  results: RecipientResult[];
}

/** ProviderUnavailableDetails travels with a ProviderUnavailable failure so failover resends only what was not accepted. */
export interface ProviderUnavailableDetails {
  provider: ProviderName;
  reason: string;
  /** done holds recipients this provider already settled (accepted or permanently failed) before it became unavailable. */
  done: RecipientResult[];
}

/** BackendEvent is the JSON body of a status callback (contracts/backend-callbacks.openapi.yaml). */
export interface BackendEvent {
  event_id: string;
  newsletter_id: string;
  state: NewsletterState;
  total: number;
  sent: number;
  failed: number;
  skipped: number;
  batch?: {
    index: number;
    results: Array<{
      recipient_id: string;
      email: string;
      status: 'sent' | 'failed';
      provider: string;
      message_id?: string;
      error?: string;
    }>;
  };
}

/** FAILURE_TYPES names the ApplicationFailure types that cross the activity/workflow boundary. */
export const FAILURE_TYPES = {
  /** ProviderUnavailable: this provider will not take this batch now; fail over. */
  providerUnavailable: 'ProviderUnavailable',
} as const;

/** workflowIdFor is the business workflow id of a newsletter: one newsletter, one workflow id. */
export function workflowIdFor(newsletterId: string): string {
  return `newsletter-${newsletterId}`;
}
