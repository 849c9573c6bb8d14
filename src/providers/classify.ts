/**
 * The failure classifier: the only place that decides what a provider failure
 * means and what to do about it. Mirrors the table in README ("Failure handling"),
 * taken from the providers' documented behaviour:
 *
 * | class               | examples                                        | action                                   |
 * |---------------------|-------------------------------------------------|------------------------------------------|
 * | rate_limited        | 429 rate_limit_exceeded, Postmark 429           | wait retry-after, same provider; fail over if it persists |
 * | transient           | 5xx, Resend 409 concurrent_idempotent_requests  | retry same provider with backoff, then fail over |
 * | unknown_outcome     | network error, timeout (no response)            | retry same provider, same idempotency key; fail over only if it persists |
 * | provider_unavailable| 401/403, quota exceeded, Postmark 412/413/1235/1236/1480, circuit open | fail over now |
 * | rejected_recipient  | invalid address, Postmark 406 inactive          | record that recipient failed; never retry, never fail over |
 * | rejected_content    | 400/422 validation, 451, Postmark 300/402/403   | record the messages failed; another provider will not fix it |
 */

/** FailureClass is what a provider failure means for delivery. */
export type FailureClass =
  | 'rate_limited'
  | 'transient'
  | 'unknown_outcome'
  | 'provider_unavailable'
  | 'rejected_recipient'
  | 'rejected_content';

/** classifyResendError classifies a Resend SDK error ({ statusCode, name }). */
export function classifyResendError(statusCode: number | null, name: string | undefined): FailureClass {
  if (statusCode === null || statusCode === 0) return 'unknown_outcome';
  if (statusCode === 429) return name?.endsWith('quota_exceeded') ? 'provider_unavailable' : 'rate_limited';
  if (statusCode === 409) {
    // Same key, other payload means a first attempt was accepted with different content:
    // sending again elsewhere would duplicate, so the messages are settled as failed.
    return name === 'concurrent_idempotent_requests' ? 'transient' : 'rejected_content';
  }
  if (statusCode >= 500) return 'transient';
  if (statusCode === 400 || statusCode === 422 || statusCode === 451) return 'rejected_content';
  // 401, 403 (bad key, unverified domain), 404 (wrong base URL) and the rest: this provider cannot send for us.
  return 'provider_unavailable';
}

const POSTMARK_ACCOUNT_CODES = new Set([10, 412, 413, 1235, 1236, 1480]);
const POSTMARK_RECIPIENT_CODES = new Set([300, 406]);
const POSTMARK_CONTENT_CODES = new Set([402, 403, 410, 411]);

/** classifyPostmarkCode classifies a Postmark ErrorCode, from a whole call or one batch element. */
export function classifyPostmarkCode(errorCode: number): FailureClass {
  if (POSTMARK_RECIPIENT_CODES.has(errorCode)) return 'rejected_recipient';
  if (POSTMARK_CONTENT_CODES.has(errorCode)) return 'rejected_content';
  if (POSTMARK_ACCOUNT_CODES.has(errorCode)) return 'provider_unavailable';
  if (errorCode === 100) return 'transient';
  return 'provider_unavailable';
}

/** classifyPostmarkError classifies a Postmark SDK error ({ statusCode, code }). */
export function classifyPostmarkError(statusCode: number, errorCode: number): FailureClass {
  if (statusCode === 0) return 'unknown_outcome';
  if (statusCode === 429) return 'rate_limited';
  if (statusCode >= 500) return 'transient';
  if (statusCode === 401) return 'provider_unavailable';
  if (statusCode === 413) return 'rejected_content';
  if (statusCode === 422) return classifyPostmarkCode(errorCode);
  return 'provider_unavailable';
}

/** RetryDecision is what the batch activity does with a failed provider call. */
export type RetryDecision =
  | { action: 'retry'; delayMs?: number }
  | { action: 'failover' }
  | { action: 'settle_failed' };

/** RETRY_ATTEMPTS is how many attempts each retryable class gets on one provider before failing over. */
export const RETRY_ATTEMPTS: Readonly<Record<'rate_limited' | 'transient' | 'unknown_outcome', number>> = {
  rate_limited: 10,
  transient: 3,
  // A timeout may have been accepted: keep the same provider (and idempotency key) longer.
  unknown_outcome: 5,
};

/** decide maps a failure class and the activity attempt number (1-based) to an action. */
export function decide(failureClass: FailureClass, attempt: number, retryAfterMs?: number): RetryDecision {
  switch (failureClass) {
    case 'rate_limited':
      return attempt < RETRY_ATTEMPTS.rate_limited
        ? { action: 'retry', delayMs: retryAfterMs }
        : { action: 'failover' };
    case 'transient':
    case 'unknown_outcome':
      return attempt < RETRY_ATTEMPTS[failureClass] ? { action: 'retry' } : { action: 'failover' };
    case 'provider_unavailable':
      return { action: 'failover' };
    case 'rejected_recipient':
    case 'rejected_content':
      return { action: 'settle_failed' };
  }
}

/** countsAgainstProvider says whether a failure class is evidence that the provider is unhealthy (circuit breaker input). */
export function countsAgainstProvider(failureClass: FailureClass): boolean {
  return failureClass === 'transient' || failureClass === 'unknown_outcome' || failureClass === 'provider_unavailable';
}
