/**
 * Resend's failures: which answer of the Resend API means what for delivery.
 * RESEND_FAILURES documents each answer (README "Failure handling") and is the case
 * table of this classifier's spec, so the README cannot drift from the code.
 */
import type { FailureClass, FailureExample } from '../failures.ts';

/** classifyResendError classifies a Resend SDK error ({ statusCode, name }); statusCode null means no response. */
export function classifyResendError(statusCode: number | null, name: string | undefined): FailureClass {
  if (statusCode === null || statusCode === 0) return 'unknown_outcome';
  if (statusCode === 429) return name?.endsWith('quota_exceeded') ? 'provider_unavailable' : 'rate_limited';
  if (statusCode === 409) {
    // Same key, other payload: an earlier attempt of this request was accepted (its page has
    // changed since, e.g. a recipient unsubscribed). Keys are scoped per newsletter, batch and
    // provider, so no other request shares one.
    // concurrent_idempotent_requests: another attempt with this key is still being processed,
    // so it may be accepted: wait and ask again, never fail over.
    return name === 'concurrent_idempotent_requests' ? 'unknown_outcome' : 'already_accepted';
  }
  // A gateway's 502 or 504 comes from in front of Resend: the request may have reached it and
  // been accepted. In doubt, like a timeout: asked again with the same key, never failed over.
  if (statusCode === 502 || statusCode === 504) return 'unknown_outcome';
  if (statusCode >= 500) return 'transient';
  if (statusCode === 400 || statusCode === 422 || statusCode === 451) return 'rejected_content';
  // 401, 403 (bad key, unverified domain), 404 (wrong base URL) and the rest: this provider cannot send for us.
  return 'provider_unavailable';
}

/** BATCH_ITEM_FAILURE is the class of one email refused inside an accepted permissive batch (invalid address). */
export const BATCH_ITEM_FAILURE: FailureClass = 'rejected_recipient';

/** ResendFailure is a documented Resend answer: HTTP status (null: no response) and error name, or one batch item. */
export interface ResendFailure extends FailureExample {
  /** call is the answer to the whole call; absent for a per-item error within an accepted batch. */
  call?: { statusCode: number | null; name: string };
}

const failure = (
  label: string,
  statusCode: number | null,
  name: string,
  failureClass: FailureClass,
): ResendFailure => ({ label, call: { statusCode, name }, failureClass });

/** RESEND_FAILURES lists Resend's documented failure answers with their class. */
export const RESEND_FAILURES: readonly ResendFailure[] = [
  failure('429 `rate_limit_exceeded`', 429, 'rate_limit_exceeded', 'rate_limited'),
  failure('500 `internal_server_error`', 500, 'internal_server_error', 'transient'),
  failure('503', 503, 'application_error', 'transient'),
  failure('502', 502, 'application_error', 'unknown_outcome'),
  failure('504', 504, 'application_error', 'unknown_outcome'),
  failure('409 `concurrent_idempotent_requests`', 409, 'concurrent_idempotent_requests', 'unknown_outcome'),
  failure('network error, timeout', null, 'application_error', 'unknown_outcome'),
  failure('401 `missing_api_key`', 401, 'missing_api_key', 'provider_unavailable'),
  failure('403 `invalid_api_key`', 403, 'invalid_api_key', 'provider_unavailable'),
  failure('429 `daily_quota_exceeded`', 429, 'daily_quota_exceeded', 'provider_unavailable'),
  failure('429 `monthly_quota_exceeded`', 429, 'monthly_quota_exceeded', 'provider_unavailable'),
  { label: 'an invalid email in a permissive batch', failureClass: BATCH_ITEM_FAILURE },
  failure('400 `validation_error`', 400, 'validation_error', 'rejected_content'),
  failure('422 `validation_error`', 422, 'validation_error', 'rejected_content'),
  failure('409 `invalid_idempotent_request`', 409, 'invalid_idempotent_request', 'already_accepted'),
  failure('451 `security_error`', 451, 'security_error', 'rejected_content'),
];
