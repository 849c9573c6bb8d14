/**
 * Conversions between the domain's NewsletterStatus and the generated proto message.
 */
import { Timestamp } from '../../contracts/gen/google/protobuf/timestamp.ts';
import {
  NewsletterState,
  type NewsletterStatus as NewsletterStatusMessage,
} from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import type { NewsletterStatus } from '../domain/types.ts';
import { NO_ENGAGEMENT } from '../domain/events.ts';

const STATES: Record<NewsletterStatus['state'], NewsletterState> = {
  RUNNING: NewsletterState.RUNNING,
  PAUSED: NewsletterState.PAUSED,
  COMPLETED: NewsletterState.COMPLETED,
  COMPLETED_WITH_FAILURES: NewsletterState.COMPLETED_WITH_FAILURES,
  CANCELLED: NewsletterState.CANCELLED,
  FAILED: NewsletterState.FAILED,
  SCHEDULED: NewsletterState.SCHEDULED,
};

/** toStatusMessage converts a domain status into its proto message. */
export function toStatusMessage(s: NewsletterStatus): NewsletterStatusMessage {
  return {
    newsletterId: s.newsletterId,
    state: STATES[s.state],
    totalRecipients: s.totalRecipients,
    sent: s.sent,
    failed: s.failed,
    skipped: s.skipped,
    batchesTotal: s.batchesTotal,
    batchesCompleted: s.batchesCompleted,
    sentByProvider: { ...s.sentByProvider },
    failures: s.failures.map((f) => ({ ...f })),
    startTime: Timestamp.fromDate(new Date(s.startTime)),
    endTime: s.endTime ? Timestamp.fromDate(new Date(s.endTime)) : undefined,
    reason: s.reason ?? '',
    traceId: s.traceId ?? '',
    callbacksOwed: s.callbacksOwed,
    owedEvents: [...(s.owedEvents ?? [])],
    owedResults: s.owedResults ?? 0,
    recipientsComplete: s.recipientsComplete,
    scheduledFor: s.scheduledFor ? Timestamp.fromDate(new Date(s.scheduledFor)) : undefined,
    ...(s.engagement ?? NO_ENGAGEMENT),
    engagementUnavailable: s.engagementUnavailable === true,
  };
}

/** timestampOf is a stored time as a Timestamp; undefined when it does not read as one (a provider's, stored as sent). */
export function timestampOf(text: string): Timestamp | undefined {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : Timestamp.fromDate(new Date(ms));
}
