/**
 * Records the workflow histories `replay.test.ts` replays: one newsletter per situation the
 * newsletter workflow goes through (delivered, failed over, paused by itself and resumed,
 * paused and cancelled by a person, paged from the backend, continued as new), and one
 * newsletter's events workflow taking webhooks through a backend outage, run by the
 * workflow code of this checkout on a real dev server, every closed run of each written to
 * `test/replay/histories/<release>/<situation>-run<n>.binpb` (a `temporal.api.history.v1.History`).
 *
 * Run it when a release ships (`make replay-record RELEASE=v0.2.0`), or when workflow code has
 * changed since the last recording (`RELEASE=<commit>`: the histories of that commit), and commit the files:
 * every later change to workflow code must replay them, so newsletters running or paused
 * on the old code keep working after a deploy (guard changed paths with `patched()`).
 */
import { Buffer } from 'node:buffer';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import proto from '@temporalio/proto';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { Timestamp } from '../../contracts/gen/google/protobuf/timestamp.ts';
import { eventsWorkflowIdFor } from '../../src/domain/events.ts';
import { workflowIdFor } from '../../src/domain/types.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterRequest, recipients } from '../support/fixtures.ts';
import { type Stack, startStack } from '../integration/harness.ts';

const release = process.env.RELEASE ?? process.argv[2];
// A release, or the commit recorded from when workflow code changed between releases.
if (!release || !/^(v\d+\.\d+\.\d+|[0-9a-f]{7,40})$/.test(release)) {
  console.error('usage: RELEASE=vX.Y.Z make replay-record (or RELEASE=<commit>)');
  process.exit(2);
}
const dir = new URL(`./histories/${release}/`, import.meta.url);
const { History } = proto.temporal.api.history.v1;

const WEBHOOK_SECRET = `whsec_${Buffer.from('replay-webhook-secret').toString('base64')}`;
const stack: Stack = await startStack(
  {
    NEWSLETTER_BATCH_SIZE: '10',
    EMAIL_CONCURRENCY_LIMIT: '2',
    CIRCUIT_BREAKER_COOLDOWN_MS: '300',
    // An outage of every provider pauses the newsletter for a person after 3 s (paused-itself-resumed).
    OUTAGE_RETRY_MAX_MS: '1000',
    OUTAGE_GIVE_UP_AFTER: '3s',
    RESEND_WEBHOOK_SECRET: WEBHOOK_SECRET,
    // Queues slow enough that each drains its burst before the requests (workflows/burst.ts).
    RESEND_REQUESTS_PER_SECOND: '5',
    POSTMARK_REQUESTS_PER_SECOND: '5',
  },
  // A short history makes the longer situations continue as new, so carried state is recorded too.
  ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=80'],
);
const status = async (id: string) =>
  (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status!;
const until = (id: string, state: NewsletterState) =>
  eventually(async () => (await status(id)).state === state || undefined, 120_000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** situations each drive one newsletter to its end; one that records another workflow than the newsletter's names it. */
const situations: Record<string, (id: string) => Promise<string | void>> = {
  async delivered(id) {
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(45, 'd')), stack.auth);
    await until(id, NewsletterState.COMPLETED);
  },
  async 'failed-over'(id) {
    stack.mock.resend.injectFault({ status: 503, durationMs: 600_000 });
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(30, 'f')), stack.auth);
    await until(id, NewsletterState.COMPLETED);
  },
  async 'paused-itself-resumed'(id) {
    stack.mock.resend.injectFault({ status: 401, durationMs: 600_000 });
    stack.mock.postmark.injectFault({ status: 401, durationMs: 600_000 });
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(30, 'p')), stack.auth);
    await until(id, NewsletterState.PAUSED);
    stack.mock.resend.clearFaults();
    stack.mock.postmark.clearFaults();
    await sleep(400); // the circuits cool down
    await stack.newsletters.resumeNewsletter({ newsletterId: id }, stack.auth);
    await until(id, NewsletterState.COMPLETED);
  },
  async 'paused-cancelled'(id) {
    stack.mock.resend.setLatency(300);
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(100, 'c')), stack.auth);
    await eventually(async () => (await status(id)).sent >= 20 || undefined);
    await stack.newsletters.pauseNewsletter({ newsletterId: id }, stack.auth);
    await sleep(500);
    await stack.newsletters.resumeNewsletter({ newsletterId: id }, stack.auth);
    await stack.newsletters.cancelNewsletter({ newsletterId: id, reason: 'recorded' }, stack.auth);
    await until(id, NewsletterState.CANCELLED);
    stack.mock.resend.setLatency(0);
  },
  async 'backend-list'(id) {
    stack.backend.setList(`list-${id}`, recipients(95, 'b'));
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, [], {
        recipientSource: { source: { oneofKind: 'backendList', backendList: { listId: `list-${id}` } } },
      }),
      stack.auth,
    );
    await until(id, NewsletterState.COMPLETED);
  },
  async 'continued-as-new'(id) {
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(200, 'n')), stack.auth);
    await until(id, NewsletterState.COMPLETED);
  },
  /** Resend throttles (429): requests give way in their window and go again after retry-after. */
  async throttled(id) {
    stack.mock.resend.setRateLimit(2);
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(80, 't')), stack.auth);
    await until(id, NewsletterState.COMPLETED);
    stack.mock.resend.setRateLimit(null);
  },
  /** Every provider down for a few seconds: the newsletter waits the outage out by itself, one batch per try. */
  async 'outage-waited'(id) {
    stack.mock.resend.injectFault({ status: 503, durationMs: 2_500 });
    stack.mock.postmark.injectFault({ status: 503, durationMs: 2_500 });
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(40, 'o')), stack.auth);
    await until(id, NewsletterState.COMPLETED);
  },
  /** The backend down at the end: results handed to results workflows, the newsletter open until they settle. */
  async 'results-owed'(id) {
    stack.backend.failCallbacksFor(4_000, 503);
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(40, 'r')), stack.auth);
    await until(id, NewsletterState.COMPLETED);
    // Closed once every result is settled (the test client reads no gzip payloads: its status, not its result).
    const handle = stack.env.client.workflow.getHandle(workflowIdFor(id));
    await eventually(async () => (await handle.describe()).status.name === 'COMPLETED' || undefined, 120_000);
  },
  /** Results owed whose results workflows an operator terminates: the newsletter writes them off and closes. */
  async 'results-written-off'(id) {
    stack.backend.failNext(1_000_000, 503);
    try {
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(20, 'w')), stack.auth);
      const query = `WorkflowType = 'newsletterResultsWorkflow' AND ExecutionStatus = 'Running'`;
      const owing = await eventually(async () => {
        const found = [];
        for await (const w of stack.env.client.workflow.list({ query })) {
          if (w.workflowId.includes(id)) found.push(w.workflowId);
        }
        return found.length === 2 ? found : undefined;
      });
      for (const workflowId of owing) await stack.env.client.workflow.getHandle(workflowId).terminate('recorded');
      await until(id, NewsletterState.COMPLETED);
    } finally {
      stack.backend.failNext(0, 503);
    }
    const handle = stack.env.client.workflow.getHandle(workflowIdFor(id));
    await eventually(async () => (await handle.describe()).status.name === 'COMPLETED' || undefined, 120_000);
  },
  /** Paused, then cancelled, and resumed while the cancel lets its batches land: it ends CANCELLED all the same. */
  async 'paused-cancelled-resumed'(id) {
    stack.mock.resend.setLatency(300);
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(100, 'x')), stack.auth);
    await eventually(async () => (await status(id)).sent >= 20 || undefined);
    await stack.newsletters.pauseNewsletter({ newsletterId: id }, stack.auth);
    const cancelled = stack.newsletters.cancelNewsletter({ newsletterId: id, reason: 'recorded' }, stack.auth).response;
    await stack.newsletters.resumeNewsletter({ newsletterId: id }, stack.auth);
    await cancelled;
    await until(id, NewsletterState.CANCELLED);
    stack.mock.resend.setLatency(0);
  },
  /** Scheduled a few seconds ahead: it waits for its time, then sends. */
  async scheduled(id) {
    const sendAt = Timestamp.fromDate(new Date(Date.now() + 3_000));
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(20, 's'), { sendAt }), stack.auth);
    await until(id, NewsletterState.COMPLETED);
  },
  /** The events workflow: webhooks before, during and after a backend outage, over several runs. */
  async events(id) {
    // Set here: every situation begins with the mock reset, which forgets it.
    stack.mock.resend.setWebhook({
      url: `http://127.0.0.1:${stack.webhooks.port}/webhooks/resend`,
      secret: WEBHOOK_SECRET,
    });
    await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(20, 'e-')), stack.auth);
    await until(id, NewsletterState.COMPLETED);
    const addresses = Array.from({ length: 20 }, (_, i) => `e-${i}@example.com`);
    await stack.mock.resend.emitEvents('delivered', addresses.slice(0, 5));
    const forwarded = () =>
      stack.backend.events.filter((c) => c.event.newsletter_id === id).flatMap((c) => c.event.events).length;
    await eventually(() => forwarded() > 0 || undefined, 20_000);
    stack.backend.failCallbacksFor(6_000, 503);
    await stack.mock.resend.emitEvents('opened', addresses);
    await sleep(8_000);
    await stack.mock.resend.emitEvents('clicked', addresses);
    await eventually(() => forwarded() >= 45 || undefined, 60_000);
    return eventsWorkflowIdFor(id);
  },
};

try {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, drive] of Object.entries(situations)) {
    stack.mock.resend.reset();
    stack.mock.postmark.reset();
    const id = `replay-${name}`;
    const workflowId = (await drive(id)) ?? workflowIdFor(id);
    const runs = [];
    for await (const run of stack.env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      // An events workflow stays open for weeks: its runs that continued as new are recorded.
      if (workflowId !== workflowIdFor(id) && run.status.name === 'RUNNING') continue;
      runs.push(run);
    }
    runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    for (const [i, run] of runs.entries()) {
      // The run must be closed: replaying an open run proves less. (A closed run's result would
      // follow its chain to the last run: an open events workflow's never comes.)
      if (run.status.name === 'RUNNING') {
        await stack.env.client.workflow.getHandle(workflowId, run.runId).result().catch(() => undefined);
      }
      // Binary protobuf: Temporal's JSON form needs protojson, which this tree's two protobufjs copies break.
      const history = await stack.env.client.workflow.getHandle(workflowId, run.runId).fetchHistory();
      writeFileSync(new URL(`${name}-run${i + 1}.binpb`, dir), History.encode(history).finish());
    }
    console.log(`recorded ${name}: ${runs.length} run(s)`);
  }
} finally {
  await stack.close();
}
process.exit(0);
