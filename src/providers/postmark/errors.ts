/**
 * Postmark's failures: which answer of the Postmark API means what for delivery.
 * Postmark answers a batch with one result per message, each with its own ErrorCode,
 * so the same ErrorCode table classifies a whole call (HTTP 422) and one batch element.
 * POSTMARK_FAILURES documents each answer (README "Failure handling") and is the case
 * table of this classifier's spec, so the README cannot drift from the code.
 */
import type { FailureClass, FailureExample } from '../failures.ts';

const ACCOUNT_CODES = new Set([10, 412, 413, 1235, 1236, 1480]);
// 300 "invalid email request" in a batch element is almost always that message's address.
const RECIPIENT_CODES = new Set([300]);
// 406 inactive recipient: Postmark suppresses the address (hard bounce, spam complaint, unsubscribe).
const SUPPRESSED_CODE = 406;
const CONTENT_CODES = new Set([402, 403, 410, 411]);

/** classifyPostmarkCode classifies a Postmark ErrorCode, from a whole call or one batch element. */
export function classifyPostmarkCode(errorCode: number): FailureClass {
  if (errorCode === SUPPRESSED_CODE) return 'suppressed';
  if (RECIPIENT_CODES.has(errorCode)) return 'rejected_recipient';
  if (CONTENT_CODES.has(errorCode)) return 'rejected_content';
  if (ACCOUNT_CODES.has(errorCode)) return 'provider_unavailable';
  if (errorCode === 100) return 'transient';
  return 'provider_unavailable';
}

/** classifyPostmarkError classifies a Postmark SDK error ({ statusCode, code }); statusCode 0 means no response. */
export function classifyPostmarkError(statusCode: number, errorCode: number): FailureClass {
  if (statusCode === 0) return 'unknown_outcome';
  if (statusCode === 429) return 'rate_limited';
  // A gateway's 502 or 504 comes from in front of Postmark: the request may have reached it and
  // been accepted. In doubt, like a timeout: the retry searches for what went through.
  if (statusCode === 502 || statusCode === 504) return 'unknown_outcome';
  if (statusCode >= 500) return 'transient';
  if (statusCode === 401) return 'provider_unavailable';
  if (statusCode === 413) return 'too_large';
  if (statusCode === 422) return classifyPostmarkCode(errorCode);
  return 'provider_unavailable';
}

/** PostmarkFailure is a documented Postmark answer: HTTP status (0: no response) and the ErrorCodes it covers. */
export interface PostmarkFailure extends FailureExample {
  statusCode: number;
  errorCodes: readonly number[];
}

const failure = (
  label: string,
  statusCode: number,
  errorCodes: number[],
  failureClass: FailureClass,
): PostmarkFailure => ({ label, statusCode, errorCodes, failureClass });

/** POSTMARK_FAILURES lists Postmark's documented failure answers with their class. */
export const POSTMARK_FAILURES: readonly PostmarkFailure[] = [
  failure('429', 429, [0], 'rate_limited'),
  failure('500', 500, [0], 'transient'),
  failure('503 (ErrorCode 100)', 503, [100], 'transient'),
  failure('502', 502, [0], 'unknown_outcome'),
  failure('504', 504, [0], 'unknown_outcome'),
  failure('network error, timeout', 0, [0], 'unknown_outcome'),
  failure('401 (ErrorCode 10)', 401, [10], 'provider_unavailable'),
  failure('422 with ErrorCode 412, 413, 1235, 1236 or 1480', 422, [412, 413, 1235, 1236, 1480], 'provider_unavailable'),
  failure('ErrorCode 406 inactive recipient', 422, [406], 'suppressed'),
  failure('ErrorCode 300 invalid email request', 422, [300], 'rejected_recipient'),
  failure('ErrorCode 402, 403, 410 or 411', 422, [402, 403, 410, 411], 'rejected_content'),
  failure('413 request too large', 413, [0], 'too_large'),
];
