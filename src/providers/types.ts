/**
 * The one interface every email provider adapter implements. Adapters translate;
 * they never retry, fail over or decide: failures.ts, the activity and the workflow do that.
 */
import type { RenderedEmail } from '../domain/templating.ts';
import type { ProviderName } from '../domain/types.ts';
import type { FailureClass } from './failures.ts';

/** SendOptions carries the deterministic idempotency key of one provider call. */
export interface SendOptions {
  idempotencyKey: string;
  /** signal is the activity's cancellation: an abandoned attempt stops its call instead of running beside its retry. */
  signal?: AbortSignal;
}

/** MessageOutcome is one message's result within an accepted provider call. */
export type MessageOutcome =
  | { status: 'sent'; messageId: string }
  | { status: 'failed'; error: string; failureClass: FailureClass };

/** EmailProvider sends one batch of rendered emails in one provider API call. */
export interface EmailProvider {
  readonly name: ProviderName;
  /** maxBatchSize is the most messages one call may carry (Resend 100, Postmark 500). */
  readonly maxBatchSize: number;
  /** sendBatch resolves one outcome per message, in order, or throws ProviderError when the call as a whole failed. */
  sendBatch(messages: RenderedEmail[], options: SendOptions): Promise<MessageOutcome[]>;
  /**
   * findAccepted is for providers without idempotency keys (Postmark): it asks the provider
   * which of messages an earlier call under the same key accepted, answering each one's
   * message id or undefined, in order. A retry of a request in doubt sends only the rest.
   */
  findAccepted?(messages: RenderedEmail[], options: SendOptions): Promise<Array<string | undefined>>;
  /** searchDelayMs is how long after a call findAccepted can see what it accepted (the provider's indexing). */
  readonly searchDelayMs?: number;
  /**
   * callTimeoutMs is the longest one call can run before the SDK ends it: a call its caller gave up
   * on (a worker shutting down, an abandoned attempt) may still be accepted until then.
   */
  readonly callTimeoutMs?: number;
}

/** ProviderError is thrown when a provider call as a whole failed; failureClass says what to do about it. */
export class ProviderError extends Error {
  readonly provider: ProviderName;
  readonly failureClass: FailureClass;
  /** statusCode is the HTTP status, or null when no response arrived (network error, timeout). */
  readonly statusCode: number | null;
  /** code is the provider's own error name (Resend) or ErrorCode (Postmark). */
  readonly code: string | number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(init: {
    provider: ProviderName;
    failureClass: FailureClass;
    statusCode: number | null;
    code?: string | number;
    message: string;
    retryAfterMs?: number;
  }) {
    super(
      `${init.provider}: ${init.statusCode ?? 'no response'} ${init.code ?? ''} ${init.message}`.replace(/\s+/g, ' '),
    );
    this.name = 'ProviderError';
    this.provider = init.provider;
    this.failureClass = init.failureClass;
    this.statusCode = init.statusCode;
    this.code = init.code;
    this.retryAfterMs = init.retryAfterMs;
  }
}
