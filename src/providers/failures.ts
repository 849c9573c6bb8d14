/**
 * Failure policy: what each class of provider failure means and what delivery does
 * about it. Which provider answer falls in which class is each provider's own
 * knowledge (`<provider>/errors.ts`); this file holds what is common to all of them.
 * The README's "Failure handling" table is rendered from here and from every
 * provider's documented examples (`failureTable`), and a spec keeps the two equal.
 */
import type { ProviderName } from '../domain/types.ts';

/** FailureClass is what a provider failure means for delivery. */
export type FailureClass =
  | 'rate_limited'
  | 'transient'
  | 'unknown_outcome'
  | 'provider_unavailable'
  | 'rejected_recipient'
  | 'suppressed'
  | 'rejected_content'
  | 'too_large'
  | 'already_accepted';

/** FAILURE_CLASSES lists every class, in the order the README table shows them. */
export const FAILURE_CLASSES: readonly FailureClass[] = [
  'rate_limited',
  'transient',
  'unknown_outcome',
  'provider_unavailable',
  'rejected_recipient',
  'suppressed',
  'rejected_content',
  'too_large',
  'already_accepted',
];

/** RETRY_ATTEMPTS is how many attempts a definite refusal gets on one provider before failing over. */
export const RETRY_ATTEMPTS: Readonly<Record<'rate_limited' | 'transient', number>> = {
  rate_limited: 10,
  transient: 3,
};

/** FAILURE_ACTIONS says, for the README and for readers, what delivery does with each class (see decide). */
export const FAILURE_ACTIONS: Readonly<Record<FailureClass, string>> = {
  rate_limited:
    `give the request's place to the next one and send it again after \`retry-after\` (or a backoff), same provider; fail over after ${RETRY_ATTEMPTS.rate_limited} attempts`,
  transient: `retry with backoff, same provider; fail over on attempt ${RETRY_ATTEMPTS.transient}`,
  unknown_outcome:
    'in doubt (the provider may have accepted it): retry the same provider with the same idempotency key until it answers; never failed over, never pre-empted by the circuit breaker',
  provider_unavailable: 'fail over now',
  rejected_recipient: 'that recipient is failed: never retried, never failed over',
  suppressed:
    'that recipient is skipped (the provider keeps it from mail: bounce, complaint, unsubscribe): never retried, never failed over, which would bypass the suppression',
  rejected_content: 'those messages are failed: another provider would not fix it',
  too_large:
    'the request is over the size the provider takes (our estimate fell short): it goes back to the workflow in halves, same provider; one email alone is failed, as its content; in doubt, failed (halves could send again what the first attempt got through)',
  already_accepted:
    'a retried request whose first attempt was accepted with other recipients (the page changed in between): those still on the page count as sent, nobody is sent twice',
};

/** FailureExample is one documented provider answer and the class its classifier gives it. */
export interface FailureExample {
  /** label is how the README names the answer, e.g. "429 `rate_limit_exceeded`". */
  label: string;
  failureClass: FailureClass;
}

/** failureTable renders the README's failure table from each provider's examples. */
export function failureTable(examples: Readonly<Record<ProviderName, readonly FailureExample[]>>): string {
  const providers = Object.keys(examples) as ProviderName[];
  const title = (name: string) => name[0]!.toUpperCase() + name.slice(1);
  const cell = (name: ProviderName, failureClass: FailureClass) =>
    examples[name].filter((e) => e.failureClass === failureClass).map((e) => e.label).join(', ') || '—';
  const rows = [
    `| class | ${providers.map(title).join(' | ')} | action |`,
    `|---|${providers.map(() => '---|').join('')}---|`,
    ...FAILURE_CLASSES.map((c) =>
      `| \`${c}\` | ${providers.map((name) => cell(name, c)).join(' | ')} | ${FAILURE_ACTIONS[c]} |`
    ),
  ];
  return rows.join('\n');
}

/** RetryDecision is what the batch activity does with a failed provider call. */
export type RetryDecision =
  | { action: 'retry'; delayMs?: number }
  | { action: 'give_way'; delayMs: number }
  | { action: 'failover' }
  | { action: 'settle_failed' }
  | { action: 'settle_sent' }
  | { action: 'split' };

/** THROTTLE_BACKOFF_MS is the wait after a 429 that names none (Postmark's): 1 s, doubling up to 30 s. */
export const THROTTLE_BACKOFF_MS = { first: 1_000, max: 30_000 } as const;

/**
 * decide maps a failure class and the attempt number (1-based) to an action; throttles counts
 * the times the request gave way to a 429 before this activity (each came back as a new one),
 * which count towards the 429s' limit only, not a server error's retries.
 * inDoubt says an earlier attempt of the same request may have been accepted (it timed
 * out, lost its connection or its worker): then only an answer about the request itself
 * (accepted earlier, or its content refused) settles it, and anything else retries on the
 * same provider with the same key — failing over could send it twice.
 *
 * A request throttled for the provider's rate gives way: it goes back to the workflow, which
 * sends other requests meanwhile and this one again after the wait. Were it to wait in place,
 * a newsletter whose requests all met a 429 would leave its rate-limited queue idle; Temporal's
 * limiter then refills to a whole second's worth and lets them all back at once, into 429s again.
 */
export function decide(
  failureClass: FailureClass,
  attempt: number,
  retryAfterMs?: number,
  inDoubt = false,
  throttles = 0,
): RetryDecision {
  if (
    inDoubt && failureClass !== 'rejected_recipient' && failureClass !== 'suppressed' &&
    failureClass !== 'rejected_content' && failureClass !== 'too_large'
  ) {
    if (failureClass === 'already_accepted') return { action: 'settle_sent' };
    return { action: 'retry', ...(failureClass === 'rate_limited' ? { delayMs: retryAfterMs } : {}) };
  }
  switch (failureClass) {
    case 'rate_limited': {
      const throttled = attempt + throttles;
      return throttled < RETRY_ATTEMPTS.rate_limited
        ? {
          action: 'give_way',
          delayMs: retryAfterMs ??
            Math.min(THROTTLE_BACKOFF_MS.first * 2 ** (throttled - 1), THROTTLE_BACKOFF_MS.max),
        }
        : { action: 'failover' };
    }
    case 'transient':
      return attempt < RETRY_ATTEMPTS.transient ? { action: 'retry' } : { action: 'failover' };
    case 'unknown_outcome':
      // The request is in doubt from now on: the next attempt retries it with the same key.
      return { action: 'retry' };
    case 'provider_unavailable':
      return { action: 'failover' };
    case 'rejected_recipient':
    case 'suppressed':
    case 'rejected_content':
      return { action: 'settle_failed' };
    case 'too_large':
      return inDoubt ? { action: 'settle_failed' } : { action: 'split' };
    case 'already_accepted':
      return { action: 'settle_sent' };
  }
}

/** countsAgainstProvider says whether a failure class is evidence that the provider is unhealthy (circuit breaker input). */
export function countsAgainstProvider(failureClass: FailureClass): boolean {
  return failureClass === 'transient' || failureClass === 'unknown_outcome' || failureClass === 'provider_unavailable';
}
