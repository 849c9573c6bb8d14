/**
 * The backend callback activity. Temporal retries it with backoff; a callback the
 * backend refuses for good is dropped (logged), never failing the newsletter.
 */
import { ApplicationFailure } from '@temporalio/common';
import { type BackendClient, BackendCallbackError } from '../backend/client.ts';
import type { BackendEvent } from '../delivery/types.ts';
import type { Logger } from '../logger.ts';
import type { DeliveryMetrics } from '../telemetry/metrics.ts';

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
      if (!deps.backend.enabled) return 'disabled';
      const log = deps.logger.child({ newsletter_id: event.newsletter_id, event_id: event.event_id });
      try {
        await deps.backend.postStatus(event);
        deps.metrics?.callback('ok');
        return 'sent';
      } catch (err) {
        if (err instanceof BackendCallbackError && !err.retryable) {
          deps.metrics?.callback('rejected');
          log.error({ status: err.status }, 'backend rejected a status callback: dropped');
          return 'rejected';
        }
        deps.metrics?.callback('retry');
        log.warn({ err: (err as Error).message }, 'status callback failed: will retry');
        throw ApplicationFailure.retryable((err as Error).message, 'BackendUnavailable');
      }
    },
  };
}
