/**
 * The backend callback activity. Temporal retries it with backoff; a callback the
 * backend refuses for good is dropped (logged), never failing the newsletter.
 */
import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { BackendCallbackError, type BackendClient } from '../backend/client.ts';
import type { BackendEvent } from '../domain/types.ts';
import type { Logger } from '../logger.ts';
import type { DeliveryMetrics } from '../telemetry/metrics.ts';
import { inSpan, SpanKind } from '../telemetry/tracing.ts';

/** CallbackDeps are what the callback activity needs. */
export interface CallbackDeps {
  backend: BackendClient;
  logger: Logger;
  metrics?: DeliveryMetrics;
}

/** createCallbackActivities builds notifyBackend around its dependencies. */
export function createCallbackActivities(deps: CallbackDeps) {
  return {
    async notifyBackend(event: BackendEvent): Promise<'sent' | 'disabled' | 'rejected'> {
      // The final event marks the end of a newsletter; count it once, not once per retry.
      if (event.event_id.endsWith(':final') && activityInfo().attempt === 1) {
        deps.metrics?.newsletterFinished(event.state);
      }
      if (!deps.backend.enabled) {
        deps.metrics?.callback('disabled');
        return 'disabled';
      }
      const log = deps.logger.child({ newsletter_id: event.newsletter_id, event_id: event.event_id });
      return await inSpan('backend status callback', {
        kind: SpanKind.CLIENT,
        attributes: { 'newsletter.event_id': event.event_id, 'newsletter.state': event.state },
      }, async () => {
        try {
          await deps.backend.postStatus(event);
          deps.metrics?.callback('ok');
          return 'sent' as const;
        } catch (err) {
          if (err instanceof BackendCallbackError && !err.retryable) {
            deps.metrics?.callback('rejected');
            log.error({ status: err.status }, 'backend rejected a status callback: dropped');
            return 'rejected' as const;
          }
          deps.metrics?.callback('retry');
          log.warn({ err: (err as Error).message }, 'status callback failed: will retry');
          throw ApplicationFailure.retryable((err as Error).message, 'BackendUnavailable');
        }
      });
    },
  };
}
