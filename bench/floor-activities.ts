/**
 * The activities of bench/floor-workflow.ts: `noop` sleeps for the provider latency (what
 * a provider request costs Temporal, minus the request); `sendOne` sends one email, the
 * same email the service would render for that recipient, through the Resend SDK.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { Resend } from 'resend';
import { renderEmail } from '../src/domain/templating.ts';
import { recipientAt } from './lib/backend.ts';
import { CONTENT, UNSUBSCRIBE_BASE_URL } from './lib/content.ts';

/** createFloorActivities builds the activities against a Resend base URL. */
export function createFloorActivities(resendUrl: string) {
  const resend = new Resend('re_mock', { baseUrl: resendUrl });
  return {
    async noop(latencyMs: number): Promise<void> {
      await sleep(latencyMs);
    },
    async sendOne(input: { prefix: string; index: number }): Promise<string> {
      const newsletterId = `per-email-${input.prefix}`;
      const m = renderEmail(CONTENT, recipientAt(input.prefix, input.index), {
        newsletterId,
        unsubscribeBaseUrl: UNSUBSCRIBE_BASE_URL,
      });
      const { data, error } = await resend.emails.send(
        { from: m.from, to: [m.to], subject: m.subject, html: m.html as string, headers: m.headers },
        { idempotencyKey: `${newsletterId}-${input.index}` },
      );
      if (error || !data) throw ApplicationFailure.retryable(error?.message ?? 'empty response', 'SendFailed');
      return data.id;
    },
  };
}

/** FloorActivities are the activity types the workflow proxies. */
export type FloorActivities = ReturnType<typeof createFloorActivities>;
