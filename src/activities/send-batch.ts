/**
 * The batch activity: renders one batch and sends it through one provider, in
 * provider-sized calls. It classifies failures (classify.ts) and turns them into
 * Temporal retries (same provider) or a non-retryable ProviderUnavailable failure
 * (the workflow fails over). It never picks another provider itself.
 */
import { trace } from '@opentelemetry/api';
import { activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { type RenderedEmail, renderEmail } from '../domain/templating.ts';
import {
  type BatchRecipient,
  FAILURE_TYPES,
  type ProviderName,
  type ProviderUnavailableDetails,
  type RecipientResult,
  type SendBatchInput,
  type SendBatchResult,
} from '../domain/types.ts';
import type { Logger } from '../logger.ts';
import type { CircuitBreaker } from '../providers/circuit-breaker.ts';
import { countsAgainstProvider, decide, type FailureClass } from '../providers/failures.ts';
import { type EmailProvider, type MessageOutcome, ProviderError } from '../providers/types.ts';
import type { DeliveryMetrics } from '../telemetry/metrics.ts';
import { inSpan, SpanKind } from '../telemetry/tracing.ts';

/** DeliveryDeps are what the batch activity needs, handed in so tests can supply their own. */
export interface DeliveryDeps {
  providers: ReadonlyMap<ProviderName, EmailProvider>;
  breakers: ReadonlyMap<ProviderName, CircuitBreaker>;
  logger: Logger;
  metrics?: DeliveryMetrics;
}

/** HEARTBEAT_EVERY_MS is well under the workflow's heartbeat timeout for sendBatch (20 s). */
const HEARTBEAT_EVERY_MS = 5_000;

/** BatchProgress is heartbeated so a retried attempt skips chunks already settled. */
interface BatchProgress {
  settled: RecipientResult[];
}

/** idempotencyKey is deterministic per newsletter, batch, provider and chunk: the same on every attempt. */
export function idempotencyKey(
  newsletterId: string,
  batchIndex: number,
  provider: ProviderName,
  chunk: BatchRecipient[],
): string {
  const first = chunk[0]!.position;
  const last = chunk[chunk.length - 1]!.position;
  return `nl-${newsletterId}-b${batchIndex}-${provider}-p${first}-${last}-n${chunk.length}`;
}

const chunksOf = <T>(items: T[], size: number): T[][] =>
  Array.from(
    { length: Math.ceil(items.length / size) },
    (_, i) => items.slice(i * size, (i + 1) * size),
  );

/** createDeliveryActivities builds the sendBatch activity around its dependencies. */
export function createDeliveryActivities(deps: DeliveryDeps) {
  return {
    async sendBatch(input: SendBatchInput): Promise<SendBatchResult> {
      const { newsletterId, batchIndex, provider: name } = input;
      const info = activityInfo();
      const log = deps.logger.child({
        newsletter_id: newsletterId,
        batch: batchIndex,
        provider: name,
        attempt: info.attempt,
      });
      const prior = (info.heartbeatDetails as BatchProgress | undefined)?.settled ?? [];
      const settled = new Map(prior.map((r) => [r.position, r]));

      const unavailable = (
        why:
          | FailureClass
          | 'circuit_open'
          | 'not_configured'
          | 'refused_messages',
        reason: string,
      ): ApplicationFailure => {
        const details: ProviderUnavailableDetails = {
          provider: name,
          reason,
          done: [...settled.values()],
        };
        deps.metrics?.failover(name, input.failoverTo ?? 'none', why);
        // Visible on the RunActivity span: the trace of a newsletter shows where and why it failed over.
        trace.getActiveSpan()?.addEvent('failover', {
          'email.provider': name,
          'failover.to': input.failoverTo ?? 'none',
          'failover.reason': why,
        });
        log.warn(
          { reason, failure_class: why, settled: settled.size },
          'provider unavailable for this batch: failing over',
        );
        return ApplicationFailure.create({
          type: FAILURE_TYPES.providerUnavailable,
          message: `${name} unavailable: ${reason}`,
          nonRetryable: true,
          details: [details],
        });
      };

      const settle = (
        r: BatchRecipient,
        outcome: { status: 'sent'; messageId: string } | { status: 'failed'; error: string },
      ) =>
        settled.set(r.position, {
          position: r.position,
          recipientId: r.recipientId,
          email: r.email,
          provider: name,
          ...outcome,
        });

      const provider = deps.providers.get(name);
      if (!provider) {
        throw unavailable('not_configured', 'not configured (no API key)');
      }
      const breaker = deps.breakers.get(name);

      const pending = input.recipients.filter((r) => !settled.has(r.position));
      const finished = deps.metrics?.batchStarted(name);
      // Heartbeat while a provider call is in flight too: if this worker dies, Temporal retries the
      // batch after the heartbeat timeout (not the 5 minute start-to-close), with the same keys.
      const beat = setInterval(
        () => heartbeat({ settled: [...settled.values()] } satisfies BatchProgress),
        HEARTBEAT_EVERY_MS,
      );
      try {
        for (const chunk of chunksOf(pending, provider.maxBatchSize)) {
          if (breaker && !breaker.tryAcquire()) {
            throw unavailable('circuit_open', 'circuit open');
          }
          const messages = chunk.map((r) =>
            renderEmail(input.content, r, {
              newsletterId,
              unsubscribeBaseUrl: input.unsubscribeBaseUrl,
            })
          );
          const started = performance.now();
          try {
            const outcomes = await sendTraced(
              provider,
              messages,
              idempotencyKey(newsletterId, batchIndex, name, chunk),
              batchIndex,
            );
            deps.metrics?.providerCall(name, 'ok', performance.now() - started);
            breaker?.recordSuccess();
            const retryable: string[] = [];
            outcomes.forEach((outcome, i) => {
              const r = chunk[i]!;
              if (outcome.status === 'sent') {
                settle(r, { status: 'sent', messageId: outcome.messageId });
              } else if (
                outcome.failureClass === 'rejected_recipient' ||
                outcome.failureClass === 'rejected_content'
              ) {
                // Permanent for this recipient: recorded once, never retried, never failed over.
                settle(r, { status: 'failed', error: outcome.error });
              } else {
                retryable.push(`${r.email}: ${outcome.error}`);
              }
            });
            heartbeat(
              { settled: [...settled.values()] } satisfies BatchProgress,
            );
            countEmails(
              deps.metrics,
              name,
              chunk.map((r) => settled.get(r.position)),
              outcomes,
            );
            // A message refused for an account-level reason (e.g. Postmark stream) is left unsettled
            // for the other provider.
            if (retryable.length > 0) {
              throw unavailable(
                'refused_messages',
                `refused ${retryable.length} message(s): ${retryable[0]}`,
              );
            }
          } catch (err) {
            if (!(err instanceof ProviderError)) {
              breaker?.release();
              throw err;
            }
            deps.metrics?.providerCall(
              name,
              err.failureClass,
              performance.now() - started,
            );
            if (countsAgainstProvider(err.failureClass)) {
              breaker?.recordFailure();
            } else breaker?.release();
            const decision = decide(
              err.failureClass,
              info.attempt,
              err.retryAfterMs,
            );
            if (decision.action === 'settle_failed') {
              for (const r of chunk) {
                settle(r, { status: 'failed', error: err.message });
              }
              deps.metrics?.emails(
                name,
                'failed',
                err.failureClass,
                chunk.length,
              );
              heartbeat(
                { settled: [...settled.values()] } satisfies BatchProgress,
              );
              continue;
            }
            if (decision.action === 'failover') {
              throw unavailable(
                err.failureClass,
                `${err.failureClass}: ${err.message}`,
              );
            }
            if (err.failureClass === 'rate_limited') {
              deps.metrics?.rateLimitWait(name, decision.delayMs ?? 0);
            }
            log.info({
              failure_class: err.failureClass,
              retry_after_ms: decision.delayMs,
            }, 'provider call failed: retrying on the same provider');
            throw ApplicationFailure.create({
              type: `Provider_${err.failureClass}`,
              message: err.message,
              nonRetryable: false,
              nextRetryDelay: decision.delayMs,
            });
          }
        }
      } finally {
        clearInterval(beat);
        finished?.();
      }
      const results = input.recipients.map((r) => settled.get(r.position)!);
      log.info({
        sent: results.filter((r) => r.status === 'sent').length,
        failed: results.filter((r) => r.status === 'failed').length,
      }, 'batch delivered');
      return { provider: name, results };
    },
  };
}

/** sendTraced makes one provider call inside a CLIENT span carrying provider, batch size and outcome. */
function sendTraced(
  provider: EmailProvider,
  messages: RenderedEmail[],
  key: string,
  batchIndex: number,
): Promise<MessageOutcome[]> {
  return inSpan(`${provider.name} send batch`, {
    kind: SpanKind.CLIENT,
    attributes: {
      'email.provider': provider.name,
      'email.batch_size': messages.length,
      'newsletter.batch': batchIndex,
    },
  }, async (span) => {
    try {
      const outcomes = await provider.sendBatch(messages, {
        idempotencyKey: key,
      });
      span.setAttribute(
        'email.sent',
        outcomes.filter((o) => o.status === 'sent').length,
      );
      span.setAttribute(
        'email.failed',
        outcomes.filter((o) => o.status === 'failed').length,
      );
      return outcomes;
    } catch (err) {
      if (err instanceof ProviderError) {
        span.setAttribute('email.failure_class', err.failureClass);
        if (err.statusCode !== null) {
          span.setAttribute('http.response.status_code', err.statusCode);
        }
      }
      throw err;
    }
  });
}

/** countEmails reports the recipients one accepted call settled. */
function countEmails(
  metrics: DeliveryMetrics | undefined,
  provider: ProviderName,
  results: Array<RecipientResult | undefined>,
  outcomes: MessageOutcome[],
): void {
  if (!metrics) return;
  metrics.emails(
    provider,
    'sent',
    'none',
    results.filter((r) => r?.status === 'sent').length,
  );
  for (const outcome of outcomes) {
    if (
      outcome.status === 'failed' &&
      (outcome.failureClass === 'rejected_recipient' ||
        outcome.failureClass === 'rejected_content')
    ) {
      metrics.emails(provider, 'failed', outcome.failureClass, 1);
    }
  }
}
