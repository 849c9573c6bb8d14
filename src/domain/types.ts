/**
 * The newsletter domain shared by the bridge, the workflow and the activities.
 * Pure types and constants: the workflow bundle imports this file, so it must stay
 * free of Node built-ins and I/O.
 *
 * The data model keeps recipients out of workflow history: a newsletter is a sequence
 * of batches (one provider request each), and the workflow knows each batch only by
 * its index and, for backend lists, its page cursor. Activities read the recipients of
 * a batch themselves: inline ones from the start input of the newsletter's first run
 * (`DefinitionRef`), backend ones by cursor from the backend.
 */
import type {
  NewsletterResultsEvent,
  NewsletterState as EventState,
  NewsletterStatusEvent,
  RecipientResult,
} from '../../contracts/http/backend.ts';

import type { Engagement } from './events.ts';

/** PROVIDERS lists every email provider: the one list every other list of providers derives from. */
export const PROVIDERS = ['resend', 'postmark'] as const;

/** ProviderName names an email provider. */
export type ProviderName = (typeof PROVIDERS)[number];

/** PROVIDER_MAX_BATCH is the most messages one provider request may carry (Resend /emails/batch 100, Postmark /email/batch 500). */
export const PROVIDER_MAX_BATCH: Readonly<Record<ProviderName, number>> = { resend: 100, postmark: 500 };

/** providerOrder is the order a batch tries the providers in: the primary first, then the others. */
export function providerOrder(primary: ProviderName): ProviderName[] {
  return [primary, ...PROVIDERS.filter((name) => name !== primary)];
}

/** providerTaskQueue is the task queue a provider's requests run on (rate-limited to the provider account's rate). */
export function providerTaskQueue(taskQueue: string, provider: ProviderName): string {
  return `${taskQueue}-${provider}`;
}

/**
 * resultsTaskQueue is the task queue results workflows run on: their own worker, so a storm of
 * them (the backend back after an outage: one per request of every newsletter) does not queue
 * the newsletters' workflow tasks behind theirs.
 */
export function resultsTaskQueue(taskQueue: string): string {
  return `${taskQueue}-results`;
}

/**
 * PROVIDER_MAX_REQUEST_BYTES and PROVIDER_MAX_MESSAGE_BYTES are the providers' documented
 * size limits: Postmark 50 MB per batch call and 10 MB per message (5 MB per body);
 * Resend 40 MB per email, which this service also takes as its batch request limit.
 */
export const PROVIDER_MAX_REQUEST_BYTES: Readonly<Record<ProviderName, number>> = {
  resend: 40 * 1024 * 1024,
  postmark: 50 * 1024 * 1024,
};
export const PROVIDER_MAX_MESSAGE_BYTES: Readonly<Record<ProviderName, number>> = {
  resend: 40 * 1024 * 1024,
  postmark: 10 * 1024 * 1024,
};
/** TEXT_PART_MAX_HTML_CHARS: an HTML-only newsletter over it gets no text part made from its HTML (text-part.ts). */
export const TEXT_PART_MAX_HTML_CHARS = 1024 * 1024;
/** MAX_BODY_BYTES bounds html_content and text_content each (Postmark's 5 MB per body, the smallest limit). */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;

/** batchSizeFor is how many emails of about emailBytes fit one request to provider, within its count limit. */
export function batchSizeFor(
  provider: ProviderName,
  emailBytes: number,
  wanted = PROVIDER_MAX_BATCH[provider],
): number {
  const byBytes = Math.floor(PROVIDER_MAX_REQUEST_BYTES[provider] / Math.max(1, emailBytes));
  return Math.max(1, Math.min(wanted, PROVIDER_MAX_BATCH[provider], byBytes));
}

/**
 * MAX_RECIPIENT_ID bounds a recipient id (Resend's tag values): it rides in every failure of the
 * status sample, every result and event, so an unbounded one could swell status answers past
 * Temporal's message limits.
 */
export const MAX_RECIPIENT_ID = 256;

/** MAX_INLINE_RECIPIENTS bounds inline recipients per SendNewsletter; larger lists are paged from the backend. */
export const MAX_INLINE_RECIPIENTS = 10_000;

/** MAX_INPUT_BYTES bounds the workflow input as stored (gzip-compressed): 1.5 MiB of Temporal's 2 MiB payload limit. */
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

/** RecipientSource says where the recipients are: inline in the start input, or a backend list read by cursor. */
export type RecipientSource =
  | { kind: 'inline'; count: number }
  | { kind: 'backend'; listId: string };

/** DeliveryPlan is what the workflow needs to run a newsletter: no content, no recipients. */
export interface DeliveryPlan {
  newsletterId: string;
  source: RecipientSource;
  /** batchSize is recipients per batch: NEWSLETTER_BATCH_SIZE capped by the primary provider's request limit. */
  batchSize: number;
  concurrency: number;
  primaryProvider: ProviderName;
  /** traceId is the OpenTelemetry trace of the SendNewsletter call, for logs and the status. */
  traceId?: string;
  /** outage is absent in plans carried by runs of older releases: read it with outagePolicyOf. */
  outage?: OutagePolicy;
}

/** NewsletterInput is the start input of a newsletter's first run: the whole definition, fixed at start. */
export interface NewsletterInput {
  newsletterId: string;
  content: NewsletterContent;
  /** recipients are the inline recipients; empty when listId names a backend list. */
  recipients: Recipient[];
  /** listId names a backend recipient list (paged by cursor) instead of inline recipients. */
  listId?: string;
  batchSize: number;
  concurrency: number;
  primaryProvider: ProviderName;
  /** unsubscribeBaseUrl is FRONTEND_URL; each email links to its recipient's unsubscribe page. */
  unsubscribeBaseUrl: string;
  traceId?: string;
  /** outage is how the newsletter waits out every provider refusing (absent in inputs of older releases). */
  outage?: OutagePolicy;
  /** sendAt schedules the newsletter (ISO 8601); absent: at once. */
  sendAt?: string;
}

/** OutagePolicy: when every provider refuses, retry by itself with backoff up to retryMaxMs, for giveUpAfterMs. */
export interface OutagePolicy {
  retryMaxMs: number;
  giveUpAfterMs: number;
}

/** DEFAULT_OUTAGE_POLICY is OUTAGE_RETRY_MAX_MS and OUTAGE_GIVE_UP_AFTER's defaults (10 min, 12 h). */
export const DEFAULT_OUTAGE_POLICY: OutagePolicy = { retryMaxMs: 600_000, giveUpAfterMs: 12 * 3_600_000 };

/** OUTAGE_FIRST_RETRY_MS is the first wait after every provider refused (capped by retryMaxMs). */
export const OUTAGE_FIRST_RETRY_MS = 15_000;

/** planOf fixes the delivery plan from a first run's input. */
export function planOf(input: NewsletterInput): DeliveryPlan {
  return {
    newsletterId: input.newsletterId,
    source: input.listId !== undefined
      ? { kind: 'backend', listId: input.listId }
      : { kind: 'inline', count: input.recipients.length },
    // One batch is one request to the primary provider.
    batchSize: Math.max(1, Math.min(input.batchSize, PROVIDER_MAX_BATCH[input.primaryProvider])),
    concurrency: Math.max(1, input.concurrency),
    primaryProvider: input.primaryProvider,
    ...(input.traceId ? { traceId: input.traceId } : {}),
    outage: input.outage ?? DEFAULT_OUTAGE_POLICY,
  };
}

/** DefinitionRef names the run whose start input holds a newsletter's content and inline recipients. */
export interface DefinitionRef {
  workflowId: string;
  /** runId is the first run's id: later runs (continue-as-new) carry this reference, never the content. */
  runId: string;
}

/**
 * NewsletterState mirrors the proto enum, as strings so histories stay readable: the states
 * lifecycle callbacks carry, and SCHEDULED (no callback is sent while a newsletter waits).
 */
export type NewsletterState = EventState | 'SCHEDULED';
export type { EventState };

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
  /** callbacksOwed counts backend callbacks not yet accepted (lifecycle events and result batches). */
  callbacksOwed: number;
  /**
   * owedEvents names the lifecycle callbacks among them by event id, oldest first; owedResults counts
   * the result callbacks, each held by its results workflow (resultsWorkflowIdFor). Absent in a status
   * a workflow of an earlier version returned: read as none.
   */
  owedEvents?: string[];
  owedResults?: number;
  /** recipientsComplete is false while a backend list is still being read (totals still grow). */
  recipientsComplete: boolean;
  /** scheduledFor is the send time a SCHEDULED newsletter waits for (ISO 8601). */
  scheduledFor?: string;
  /** engagement counts the provider events so far (the bridge adds it from the events workflow). */
  engagement?: Engagement;
  /** engagementUnavailable: the events workflow did not answer, so engagement is unknown (not zero). */
  engagementUnavailable?: boolean;
}

/** BatchRef names one batch: its index and, for a backend list, the cursor of its page. */
export interface BatchRef {
  index: number;
  /** cursor is the backend page cursor ('' for the first page); absent for inline recipients. */
  cursor?: string;
  /** count is how many recipients the batch has. */
  count: number;
}

/** ProviderQueueAsk asks about a provider queue before a drain (activities/rate.ts). */
export interface ProviderQueueAsk {
  provider: ProviderName;
  /** maxRate is the fastest queue the workflow drains: above it, no drain is claimed. */
  maxRate: number;
  /** newsletterId asks: the gate's holder drains again after its own lulls. */
  newsletterId: string;
}

/**
 * MAX_DRAINED_RATE is the fastest provider queue (dispatches per second) whose idle burst is
 * drained and whose requests are paced (workflows/burst.ts, activities/rate.ts): a faster one's
 * burst is left to the provider's 429s, which are honoured.
 */
export const MAX_DRAINED_RATE = 99;

/** ProviderQueueState answers a ProviderQueueAsk. */
export interface ProviderQueueState {
  /** rate is the dispatches per second the queue is limited to. */
  rate: number;
  /** drain: the queue idles (no task waits) and no other newsletter drained it moments ago; this one drains it. */
  drain: boolean;
}

/** SendBatchInput is one provider request: a batch (or the part of it still to send) through one provider. */
export interface SendBatchInput {
  ref: DefinitionRef;
  newsletterId: string;
  batch: BatchRef;
  /** positions restricts the request to these positions of the batch (what other providers did not settle). */
  positions?: number[];
  /**
   * members restricts the request to these recipients of a backend page, by member key (the
   * send activity's `memberKey`): a page that lost a recipient between two reads shifts the
   * positions after it, never the keys. Parts of backend pages use it instead of positions.
   */
  members?: number[];
  provider: ProviderName;
  /** failoverTo is the provider the workflow tries next if this one refuses the batch (absent: none left). */
  failoverTo?: ProviderName;
  /** failureSlots is how many failures the workflow can still keep in its sample (MAX_REPORTED_FAILURES). */
  failureSlots: number;
  /** throttles counts earlier requests of this part the provider throttled (it fails over after RETRY_ATTEMPTS). */
  throttles?: number;
}

/** BatchOutcome counts what one provider settled of a batch: no per-recipient data except the capped failure sample. */
export interface BatchOutcome {
  provider: ProviderName;
  sent: number;
  failed: number;
  /** skipped counts recipients the provider suppresses (proto: skipped = not attempted, cancelled or suppressed). */
  skipped?: number;
  /** failures is a sample of at most failureSlots failures. */
  failures: RecipientFailure[];
  /** resultsOwed is true when the backend did not take the per-recipient results at once (handed to a retrying workflow). */
  resultsOwed: boolean;
}

/** SendBatchResult is a batch's outcome when the provider settled all of it. */
export type SendBatchResult = BatchOutcome;

/** ProviderUnavailableDetails travels with a ProviderUnavailable failure so failover resends only what was not settled. */
export interface ProviderUnavailableDetails {
  provider: ProviderName;
  reason: string;
  /** settled counts what this provider settled before refusing (recipients refused for account reasons excluded). */
  settled: BatchOutcome;
  /** remaining lists the positions of the batch no provider has settled yet. */
  remaining: number[];
  /** remainingMembers lists the same recipients by member key, for a backend page (absent from older activities). */
  remainingMembers?: number[];
  /**
   * pageChanged says the remaining joined the backend page after the request left (a retry in
   * doubt found them): no provider refused them and none sent them, so they go to the same
   * provider in a request of their own. Workflows of earlier releases fail them over instead.
   */
  pageChanged?: boolean;
}

/** RequestTooLargeDetails travels with a RequestTooLarge failure. */
export interface RequestTooLargeDetails {
  /** bytes is the request's estimated size; absent when the provider itself refused it as too large (413). */
  bytes?: number;
  limit: number;
  /** members names the request's recipients by member key, for a backend page: the workflow halves these. */
  members?: number[];
}

/** ReadPagesInput asks for the next pages of a backend list, from cursor. */
export interface ReadPagesInput {
  ref: DefinitionRef;
  newsletterId: string;
  listId: string;
  cursor: string;
  limit: number;
  maxPages: number;
  /** readBefore: hashes of cursors earlier reads of the list got (domain/cursors.ts); a next_cursor among them is refused. */
  readBefore?: number[];
}

/** ReadPagesResult describes the pages read (cursor and size, never recipients) and where to go on. */
export interface ReadPagesResult {
  pages: Array<{ cursor: string; count: number }>;
  /** nextCursor is where the next read starts; undefined once the list is exhausted. */
  nextCursor?: string;
}

/** BackendEvent is the body of a lifecycle callback (contracts/http/backend.ts). */
export type BackendEvent = NewsletterStatusEvent;

/** ResultsEvent is the body of a results callback: every recipient of one provider request. */
export type ResultsEvent = NewsletterResultsEvent;

/** RecipientResultEvent is one recipient's outcome in a results callback. */
export type RecipientResultEvent = RecipientResult;

/** BackendRecipientPage is the backend's answer to a recipient page request (listRecipients). */
export interface BackendRecipientPage {
  recipients: Recipient[];
  nextCursor?: string;
}

/** FAILURE_TYPES names the ApplicationFailure types that cross the activity/workflow boundary. */
export const FAILURE_TYPES = {
  /** ProviderUnavailable: this provider will not take this batch now; fail over. */
  providerUnavailable: 'ProviderUnavailable',
  /** RequestTooLarge: the rendered batch is over the provider's request size; the workflow sends it in halves. */
  requestTooLarge: 'RequestTooLarge',
  /** Throttled: the provider refused the request for its rate (nothing sent); the workflow sends it again after ThrottledDetails.retryAfterMs. */
  throttled: 'Throttled',
  /** BackendListRefused: the backend says the recipient list is unknown, or refuses the token (not retried): the newsletter fails. */
  backendListRefused: 'BackendListRefused',
} as const;

/** ThrottledDetails travels with a Throttled failure: when the provider may take the request again. */
export interface ThrottledDetails {
  retryAfterMs: number;
}

/** workflowIdFor is the business workflow id of a newsletter: one newsletter, one workflow id. */
export function workflowIdFor(newsletterId: string): string {
  return `newsletter-${newsletterId}`;
}

/** burstGateIdFor is the id of the workflow held while a provider queue is drained (activities/rate.ts). */
export function burstGateIdFor(providerTaskQueue: string): string {
  return `burst-gate:${providerTaskQueue}`;
}

/** resultsWorkflowIdFor is the id of the workflow that owes the backend one request's results. */
export function resultsWorkflowIdFor(eventId: string): string {
  return `newsletter-results-${eventId}`;
}
