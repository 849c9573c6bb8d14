/**
 * The public shapes of the mock providers: what tests, `make dev` and containers see.
 * Pure types, so any module can import them without pulling in the servers.
 */
import type { MockEventKind, WebhookTarget } from './webhooks.ts';

export type { MockEventKind, WebhookTarget };

/** MockProvidersOptions configures where the two mock servers listen and which Postmark token they accept. */
export interface MockProvidersOptions {
  /** host defaults to 127.0.0.1 so a mock never answers from outside the machine unless asked to. */
  host?: string;
  /** resendPort defaults to 0: the OS picks a free port. */
  resendPort?: number;
  /** postmarkPort defaults to 0: the OS picks a free port. */
  postmarkPort?: number;
  /** postmarkServerToken, when set, is the only token accepted; otherwise any non-empty token is. */
  postmarkServerToken?: string;
  /**
   * keepBodies (default true) keeps every accepted email whole. When false, an email keeps only
   * provider, messageId, to and receivedAt (empty strings and objects elsewhere), so a run of
   * millions of emails (benchmarks) fits in memory.
   */
  keepBodies?: boolean;
}

/** MockProviderName names one of the two mocked providers. */
export type MockProviderName = 'resend' | 'postmark';

/** ReceivedEmail is one email a mock accepted, normalized across both providers. */
export interface ReceivedEmail {
  provider: MockProviderName;
  /** messageId is the id the provider answered (Resend `id`, Postmark `MessageID`). */
  messageId: string;
  from: string;
  /** to holds the recipients exactly as sent (possibly `Name <addr>`). */
  to: string[];
  subject: string;
  html?: string;
  text?: string;
  /** replyTo joins several reply-to addresses with ", ". */
  replyTo?: string;
  headers: Record<string, string>;
  /** tags holds Resend tags, or Postmark Metadata. */
  tags: Record<string, string>;
  /** tag is Postmark's single Tag (absent for Resend, and when none was given). */
  tag?: string;
  /** messageStream is Postmark's effective stream ('outbound' when none was given); absent for Resend. */
  messageStream?: string;
  idempotencyKey?: string;
  receivedAt: string;
}

/** CallRecord is one call to a send endpoint and the status it was answered with. */
export interface CallRecord {
  provider: MockProviderName;
  method: string;
  path: string;
  status: number;
  /** messages counts the messages in the request body (0 when it could not be parsed), not the ones accepted. */
  messages: number;
  idempotencyKey?: string;
  /** at is when the request arrived; records are appended when the response is sent. */
  at: string;
}

/** Fault makes send endpoints answer an error instead of sending. */
export interface Fault {
  /** status is the HTTP status to answer, 400–599. */
  status: number;
  /** count limits the fault to the next N send calls. */
  count?: number;
  /** durationMs limits the fault to a time window starting now; with neither count nor durationMs it lasts until cleared. */
  durationMs?: number;
  /** errorName overrides the Resend error name, e.g. 'daily_quota_exceeded'. */
  errorName?: string;
  /** errorCode overrides the Postmark ErrorCode. */
  errorCode?: number;
  /** retryAfterSeconds adds a `retry-after` header. */
  retryAfterSeconds?: number;
  message?: string;
}

/** MockStats summarizes what one mock provider received, without listing it. */
export interface MockStats {
  /** emails counts accepted emails (an idempotent replay adds none). */
  emails: number;
  /** uniqueRecipients counts distinct `to` lists (lower-cased) among them: emails - uniqueRecipients are duplicates. */
  uniqueRecipients: number;
  /** calls counts send calls; byStatus counts them by the HTTP status answered. */
  calls: number;
  byStatus: Record<string, number>;
  /** firstReceivedAt and lastReceivedAt bound the accepted emails' receivedAt (absent when none). */
  firstReceivedAt?: string;
  lastReceivedAt?: string;
}

/** MockProviderControl inspects and steers one mock provider from code. */
export interface MockProviderControl {
  /** received lists accepted emails in order; an idempotent replay adds nothing. */
  received(): ReceivedEmail[];
  /** calls lists every call to a send endpoint with the status answered. */
  calls(): CallRecord[];
  /** stats counts emails, distinct recipients and calls by status, for runs too big to list. */
  stats(): MockStats;
  /** injectFault queues a fault; the oldest active fault answers the next send call. */
  injectFault(fault: Fault): void;
  clearFaults(): void;
  /** setLatency delays every send response by ms. */
  setLatency(ms: number): void;
  /** setSearchDelay makes accepted emails searchable only ms after they were accepted (Postmark's indexing). */
  setSearchDelay(ms: number): void;
  /** failAddresses marks addresses (case-insensitive, bare address) as inactive or invalid; calls add up. */
  failAddresses(kind: 'inactive' | 'invalid', emails: string[]): void;
  /** setRateLimit caps send calls per one-second window; null turns the limit off (the default). */
  setRateLimit(requestsPerSecond: number | null): void;
  /** setWebhook sets where this provider's webhooks go (Resend: with its signing secret; Postmark: with basic auth); null: nowhere. */
  setWebhook(target: WebhookTarget | null): void;
  /**
   * emitEvents sends the webhook for kind about every accepted email to one of `to`, as the
   * provider would, `times` times each (a redelivery repeats the same event); answers the
   * HTTP statuses the target gave (0: unreachable).
   */
  emitEvents(kind: MockEventKind, to: string[], options?: { times?: number }): Promise<number[]>;
  /** reset forgets emails, calls, faults, latency, addresses, rate limit, webhook target and the idempotency cache. */
  reset(): void;
}

/** MockProviders is a running pair of mock servers. */
export interface MockProviders {
  /** resendUrl is the Resend base URL without a trailing slash, e.g. http://127.0.0.1:41234. */
  resendUrl: string;
  /** postmarkUrl is the Postmark base URL without a trailing slash. */
  postmarkUrl: string;
  resend: MockProviderControl;
  postmark: MockProviderControl;
  /** close stops both servers and drops open (keep-alive or in-flight) connections. */
  close(): Promise<void>;
}
