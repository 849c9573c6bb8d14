/**
 * Provider webhooks end to end: the mock providers send them as Resend (signed) and
 * Postmark (basic auth) do, to the bridge's webhook endpoint; verified events reach the
 * backend (`/events`) and the newsletter's engagement counts; forged, replayed and
 * malformed ones are refused and change nothing; a redelivery counts once; an event
 * acknowledged just before the endpoint stops is not lost.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { Client } from '@temporalio/client';
import { postmarkWebhook, resendWebhook } from '../../mock-providers/webhooks.ts';
import { dataConverter } from '../../src/data-converter.ts';
import { eventsWorkflowIdFor } from '../../src/domain/events.ts';
import { shardOf, suppressionWorkflowId } from '../../src/domain/suppression.ts';
import { SuppressionList } from '../../src/suppression/list.ts';
import { suppressionListWorkflow } from '../../src/workflows/suppression.ts';
import { eventually } from '../support/eventually.ts';
import { auth, newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { finalStatus, outcomeOf } from '../support/grpc.ts';
import { spans, type Stack, startStack } from './harness.ts';

const SECRET = `whsec_${Buffer.from('integration-webhook-secret').toString('base64')}`;
const POSTMARK = { user: 'postmark-hooks', password: 'hook-password-1' };
/** A change to the suppression list reaches sends that begin this long after it (SUPPRESSION_MAX_AGE_MS). */
const MAX_AGE_MS = 300;
const settings = {
  SUPPRESSION_MAX_AGE_MS: String(MAX_AGE_MS),
  RESEND_WEBHOOK_SECRET: SECRET,
  POSTMARK_WEBHOOK_USER: POSTMARK.user,
  POSTMARK_WEBHOOK_PASSWORD: POSTMARK.password,
};

/** sendAndFinish sends a newsletter to n recipients with prefix and waits until it is over. */
async function sendAndFinish(stack: Stack, prefix: string, n: number): Promise<string> {
  const id = newsletterId(prefix);
  await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(n, `${prefix}-`)), auth).response;
  assert.equal((await finalStatus(stack, id)).state, NewsletterState.COMPLETED);
  return id;
}

/** eventsFor lists the provider events the backend received for a newsletter, in order. */
const eventsFor = (stack: Stack, id: string) =>
  stack.backend.events.filter((c) => c.event.newsletter_id === id).flatMap((c) => c.event.events);

/** listAll reads the whole suppression list, page by page. */
async function listAll(stack: Stack, pageSize = 50) {
  const all = [];
  let pageToken = '';
  do {
    const page = await stack.newsletters.listSuppressions({ pageSize, pageToken }, auth).response;
    all.push(...page.suppressions);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
}

const status = async (stack: Stack, id: string) =>
  (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, auth).response).status!;

describe('provider webhooks through Resend', { timeout: 120_000 }, () => {
  let stack: Stack;
  let base: string;
  before(async () => {
    stack = await startStack(settings);
    base = `http://127.0.0.1:${stack.webhooks.port}`;
    stack.mock.resend.setWebhook({ url: `${base}/webhooks/resend`, secret: SECRET });
  });
  after(async () => {
    await stack?.close();
  });

  it('hands a hard bounce to the backend with its newsletter and recipient, and counts it', async () => {
    const id = await sendAndFinish(stack, 'whb', 3);
    assert.deepEqual(await stack.mock.resend.emitEvents('bounced', ['whb-1@example.com']), [200]);
    const [event] = await eventually(() => eventsFor(stack, id).length > 0 && eventsFor(stack, id), 20_000);
    assert.equal(event!.kind, 'bounced');
    assert.equal(event!.bounce, 'hard');
    assert.equal(event!.provider, 'resend');
    assert.equal(event!.email, 'whb-1@example.com');
    assert.equal(event!.recipient_id, 'whb--1');
    assert.match(event!.event_id, /^resend:msg_/);
    const callback = stack.backend.events.find((c) => c.event.newsletter_id === id)!;
    assert.equal(callback.authorization, `Bearer ${stack.serviceEnv.INTERNAL_SERVICE_TOKEN}`);
    assert.match(callback.event.event_id, new RegExp(`^${id}:events:[0-9a-f]{8}-1$`));
    const counts = await status(stack, id);
    assert.deepEqual([counts.bounced, counts.delivered, counts.opened], [1, 0, 0]);
  });

  it('gives the engagement counts with every status it answers: pause, resume and cancel too', async () => {
    stack.mock.resend.setLatency(1_000);
    try {
      const id = newsletterId('whp');
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(1_000, 'whp-')), auth).response;
      await eventually(() => stack.mock.resend.received().some((e) => e.to[0] === 'whp-0@example.com'), 20_000);
      assert.deepEqual(await stack.mock.resend.emitEvents('opened', ['whp-0@example.com']), [200]);
      await eventually(async () => (await status(stack, id)).opened === 1, 20_000);
      const answers = [
        (await stack.newsletters.pauseNewsletter({ newsletterId: id }, auth).response).status!,
        (await stack.newsletters.resumeNewsletter({ newsletterId: id }, auth).response).status!,
        (await stack.newsletters.cancelNewsletter({ newsletterId: id, reason: 'test' }, auth).response).status!,
        // A finished newsletter answers its final status, with its counts too.
        (await stack.newsletters.cancelNewsletter({ newsletterId: id, reason: 'again' }, auth).response).status!,
      ];
      assert.deepEqual(
        answers.map((s) => [NewsletterState[s.state], s.opened]),
        [['PAUSED', 1], ['RUNNING', 1], ['CANCELLED', 1], ['CANCELLED', 1]],
      );
    } finally {
      stack.mock.resend.setLatency(0);
    }
  });

  it("answers a finished newsletter's status while no worker runs, saying its engagement could not be read (not failing, not zero)", async () => {
    const id = await sendAndFinish(stack, 'whu', 1);
    assert.deepEqual(await stack.mock.resend.emitEvents('delivered', ['whu-0@example.com']), [200]);
    await eventually(async () => (await status(stack, id)).delivered === 1, 20_000);
    await stack.stopWorker();
    try {
      const asked = Date.now();
      const answer = await status(stack, id);
      assert.deepEqual([answer.state, answer.sent, answer.engagementUnavailable], [NewsletterState.COMPLETED, 1, true]);
      assert.ok(Date.now() - asked < 5_000, `answered in ${Date.now() - asked} ms`);
    } finally {
      await stack.startWorker();
    }
    // Once the worker polls again (its first poll may take longer than a status waits), the counts are back.
    const again = await eventually(async () => {
      const s = await status(stack, id);
      return s.engagementUnavailable ? undefined : s;
    }, 20_000);
    assert.equal(again.delivered, 1);
  });

  it('names the batches of events that come after the events workflow ended anew, so the backend drops none as a repeat', async () => {
    const id = await sendAndFinish(stack, 'whr', 1);
    const callbacks = () => stack.backend.events.filter((c) => c.event.newsletter_id === id).map((c) => c.event);
    assert.deepEqual(await stack.mock.resend.emitEvents('delivered', ['whr-0@example.com']), [200]);
    await eventually(() => callbacks().length === 1, 20_000);
    // The workflow ends after 45 days without an event; the next event begins it again.
    await stack.env.client.workflow.getHandle(eventsWorkflowIdFor(id)).terminate('as if 45 quiet days passed');
    assert.deepEqual(await stack.mock.resend.emitEvents('opened', ['whr-0@example.com']), [200]);
    const [first, second] = await eventually(() => callbacks().length === 2 && callbacks(), 20_000);
    assert.deepEqual([first!.events[0]!.kind, second!.events[0]!.kind], ['delivered', 'opened']);
    assert.notEqual(first!.event_id, second!.event_id, 'a new chain numbers its batches under a new id');
  });

  it('counts a webhook delivered twice once', async () => {
    const id = await sendAndFinish(stack, 'whd', 2);
    assert.deepEqual(await stack.mock.resend.emitEvents('delivered', ['whd-0@example.com'], { times: 2 }), [200, 200]);
    await stack.mock.resend.emitEvents('opened', ['whd-0@example.com']);
    // The open comes after the redelivery: once it is counted, the redelivery has been handled.
    await eventually(async () => (await status(stack, id)).opened === 1, 20_000);
    const counts = await status(stack, id);
    assert.equal(counts.delivered, 1);
    await eventually(() => eventsFor(stack, id).length >= 2, 20_000);
    assert.deepEqual(eventsFor(stack, id).map((e) => e.kind), ['delivered', 'opened']);
  });

  it('refuses forged, replayed and malformed webhooks, and they change nothing', async () => {
    const id = await sendAndFinish(stack, 'whf', 1);
    const email = stack.mock.resend.received().find((e) => e.to[0] === 'whf-0@example.com')!;
    const post = (path: string, delivery: { headers: Record<string, string>; body: string }) =>
      fetch(`${base}${path}`, { method: 'POST', headers: delivery.headers, body: delivery.body }).then((r) => r.status);
    const other = `whsec_${Buffer.from('someone-else').toString('base64')}`;
    assert.equal(await post('/webhooks/resend', resendWebhook(email, 'complained', other)), 401, 'forged');
    const old = new Date(Date.now() - 10 * 60_000);
    assert.equal(await post('/webhooks/resend', resendWebhook(email, 'complained', SECRET, old)), 401, 'replayed');
    const genuine = resendWebhook(email, 'complained', SECRET);
    assert.equal(
      await post('/webhooks/resend', { headers: genuine.headers, body: genuine.body.replace('whf-0', 'whf-9') }),
      401,
      'altered',
    );
    const record = postmarkWebhook({ ...email, provider: 'postmark' }, 'complained');
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    assert.equal(
      await post('/webhooks/postmark', {
        ...record,
        headers: { ...record.headers, authorization: basic(POSTMARK.user, 'wrong') },
      }),
      401,
      'wrong password',
    );
    assert.equal(await post('/webhooks/postmark', record), 401, 'no credentials');
    assert.equal(
      await post('/webhooks/postmark', {
        headers: { authorization: basic(POSTMARK.user, POSTMARK.password) },
        body: '{"not": "a record"',
      }),
      400,
      'malformed',
    );
    // A genuine event after them: once it has come through, whatever the refused ones did would have too.
    assert.equal(await post('/webhooks/resend', resendWebhook(email, 'delivered', SECRET)), 200);
    await eventually(() => eventsFor(stack, id).length >= 1, 20_000);
    const after = await eventually(async () => {
      const counts = await status(stack, id);
      return counts.delivered === 1 ? counts : undefined;
    }, 20_000);
    assert.deepEqual(eventsFor(stack, id).map((e) => e.kind), ['delivered'], 'only the genuine one');
    assert.equal(after.complained, 0);
  });

  it('suppresses a hard-bounced address: later newsletters skip it through either provider, until RemoveSuppression', async () => {
    const first = await sendAndFinish(stack, 'whs', 3);
    assert.deepEqual(await stack.mock.resend.emitEvents('bounced', ['whs-0@example.com']), [200]);
    assert.deepEqual(await stack.mock.resend.emitEvents('soft_bounced', ['whs-1@example.com']), [200]);
    await eventually(() => eventsFor(stack, first).length >= 2, 20_000);
    const listed = await listAll(stack);
    const entry = listed.find((s) => s.email === 'whs-0@example.com');
    assert.deepEqual([entry?.reason, entry?.source], ['hard_bounce', 'resend']);
    assert.ok(!listed.some((s) => s.email === 'whs-1@example.com'), 'a soft bounce suppresses nothing');

    // Resend refuses the account: the batch fails over to Postmark, and the address is skipped there too.
    await sleep(MAX_AGE_MS + 50);
    stack.mock.resend.injectFault({ status: 401, count: 20 });
    const second = newsletterId('whs2');
    await stack.newsletters.sendNewsletter(newsletterRequest(second, recipients(3, 'whs-')), auth).response;
    const done = await finalStatus(stack, second);
    stack.mock.resend.clearFaults();
    assert.deepEqual([done.state, done.sent, done.skipped], [NewsletterState.COMPLETED, 2, 1]);
    const sentTo = (addr: string) =>
      [...stack.mock.resend.received(), ...stack.mock.postmark.received()].filter((e) => e.to[0] === addr).length;
    assert.equal(sentTo('whs-0@example.com'), 1, 'only the first newsletter reached it');
    assert.equal(sentTo('whs-1@example.com'), 2);
    const result = await eventually(
      () =>
        stack.backend.results.flatMap((r) => r.event.newsletter_id === second ? r.event.results : [])
          .find((r) => r.email === 'whs-0@example.com'),
      20_000,
    );
    assert.deepEqual([result.status, result.error], ['skipped', 'suppressed (hard_bounce)']);

    const { removed } = await stack.newsletters.removeSuppression({ emails: ['WHS-0@example.com'] }, auth).response;
    assert.equal(removed, 1);
    await sleep(MAX_AGE_MS + 50);
    const again = newsletterId('whs4');
    await stack.newsletters.sendNewsletter(newsletterRequest(again, recipients(1, 'whs-')), auth).response;
    assert.equal((await finalStatus(stack, again)).sent, 1);
  });

  it('suppresses an address Resend reports it kept from mail (its own list): later newsletters skip it through either provider', async () => {
    const first = await sendAndFinish(stack, 'wrs', 2);
    assert.deepEqual(await stack.mock.resend.emitEvents('suppressed', ['wrs-0@example.com']), [200]);
    await eventually(() => eventsFor(stack, first).length >= 1, 20_000);
    const entry = (await listAll(stack)).find((s) => s.email === 'wrs-0@example.com');
    assert.deepEqual([entry?.reason, entry?.source], ['provider_suppressed', 'resend']);

    // Resend refuses the account: the batch fails over to Postmark, which would mail it.
    await sleep(MAX_AGE_MS + 50);
    stack.mock.resend.injectFault({ status: 401, count: 20 });
    const second = newsletterId('wrs2');
    await stack.newsletters.sendNewsletter(newsletterRequest(second, recipients(2, 'wrs-')), auth).response;
    const done = await finalStatus(stack, second);
    stack.mock.resend.clearFaults();
    assert.deepEqual([done.state, done.sent, done.skipped], [NewsletterState.COMPLETED, 1, 1]);
    assert.equal(stack.mock.postmark.received().filter((e) => e.to[0] === 'wrs-0@example.com').length, 0);
  });

  it("keeps a shard's addresses suppressed when its workflow is terminated: a change fails FAILED_PRECONDITION instead of starting an empty shard", async () => {
    const kept = 'kept-0@example.com';
    await stack.newsletters.addSuppression({ emails: [kept], detail: '' }, auth).response;
    const shard = shardOf(kept);
    // An operator terminates the shard (or Temporal does: its continue-as-new over the payload limit).
    await stack.env.client.workflow.getHandle(suppressionWorkflowId(shard)).terminate('by hand');
    const other = Array.from({ length: 500 }, (_, i) => `other-${i}@example.com`).find((e) => shardOf(e) === shard)!;
    const refused = await outcomeOf(stack.newsletters.addSuppression({ emails: [other], detail: '' }, auth).response);
    assert.equal(refused.code, 'FAILED_PRECONDITION');
    assert.match(refused.message, new RegExp(`${suppressionWorkflowId(shard)} is closed`));
    // Workers still read the closed shard: the address is still skipped.
    await sleep(MAX_AGE_MS + 50);
    const id = newsletterId('kept');
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, [{ email: kept, name: 'K', variables: {}, recipientId: 'k0' }]),
      auth,
    ).response;
    const done = await finalStatus(stack, id);
    assert.deepEqual([done.sent, done.skipped], [0, 1]);
  });

  it('adds, lists and removes suppressions through the API, refusing bad addresses by field', async () => {
    const { added } = await stack.newsletters.addSuppression(
      { emails: ['Manual-1@example.com', 'manual-2@example.com'], detail: 'asked by phone' },
      auth,
    ).response;
    assert.equal(added, 2);
    const { added: again } = await stack.newsletters.addSuppression(
      { emails: ['manual-1@example.com'], detail: '' },
      auth,
    )
      .response;
    assert.equal(again, 0, 'already there');
    // What workers read for their copies: the shard's entries, then only what changed since.
    const shards = new SuppressionList(
      new Client({ connection: stack.env.connection, dataConverter }),
      stack.config.temporal.taskQueue,
    );
    const shard = shardOf('manual-1@example.com');
    const copy = (await shards.changes(shard, null))!;
    assert.ok(copy.entries!.some((s) => s.email === 'manual-1@example.com'));
    const listed = await listAll(stack, 1);
    // Pages follow the shards, not the alphabet.
    const manual = listed.filter((s) => s.email.startsWith('manual-')).sort((a, b) => a.email.localeCompare(b.email));
    assert.deepEqual(manual.map((s) => [s.email, s.reason, s.source, s.detail]), [
      ['manual-1@example.com', 'manual', 'api', 'asked by phone'],
      ['manual-2@example.com', 'manual', 'api', 'asked by phone'],
    ]);
    const bad = await outcomeOf(
      stack.newsletters.addSuppression({ emails: ['ok@example.com', 'nope'], detail: '' }, auth).response,
    );
    assert.deepEqual([bad.code, bad.message], ['INVALID_ARGUMENT', 'emails[1]: not an email address']);
    const token = await outcomeOf(
      stack.newsletters.listSuppressions({ pageSize: 10, pageToken: 'forged' }, auth).response,
    );
    assert.equal(token.code, 'INVALID_ARGUMENT');
    const { removed } = await stack.newsletters.removeSuppression(
      { emails: ['manual-1@example.com', 'manual-2@example.com', 'never@example.com'] },
      auth,
    ).response;
    assert.equal(removed, 2);
    const since = (await shards.changes(shard, { runId: copy.runId, version: copy.version }))!;
    assert.deepEqual([since.entries, since.added, since.removed], [undefined, [], ['manual-1@example.com']]);
    assert.equal(since.version, copy.version + 1);
    const otherRun = (await shards.changes(shard, { runId: 'an-earlier-run', version: copy.version }))!;
    assert.ok(!otherRun.entries!.some((s) => s.email === 'manual-1@example.com'), 'every entry, as of now');
  });

  it('loses nothing acknowledged when the endpoint stops right after', async () => {
    const id = await sendAndFinish(stack, 'whk', 1);
    assert.deepEqual(await stack.mock.resend.emitEvents('clicked', ['whk-0@example.com']), [200]);
    await stack.webhooks.close();
    const [event] = await eventually(() => eventsFor(stack, id).length > 0 && eventsFor(stack, id), 20_000);
    assert.equal(event!.kind, 'clicked');
    assert.equal((await status(stack, id)).clicked, 1);
  });
});

// Its own suite and budget: thousands of signals take a while on a slow host, and must not eat another suite's time.
describe('webhook signals piled up during a worker outage', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack(settings);
  });
  after(async () => {
    await stack?.close();
  });

  it('counts the signals that piled up while no worker ran, and the worker stays up; they make no span in the workflow', async () => {
    // One event each, as from a client (the bridge groups them): the most signals for the fewest events.
    const id = newsletterId('piled');
    const n = 3_000;
    await stack.stopWorker();
    try {
      let next = 0;
      await Promise.all(Array.from({ length: 32 }, async () => {
        for (let i = next++; i < n; i = next++) {
          await stack.env.client.workflow.signalWithStart('newsletterEventsWorkflow', {
            workflowId: eventsWorkflowIdFor(id),
            taskQueue: stack.config.temporal.taskQueue,
            args: [{ newsletterId: id }],
            signal: 'deliveryEvents',
            signalArgs: [[{
              eventId: `resend:piled-${i}`,
              provider: 'resend',
              kind: 'delivered',
              newsletterId: id,
              email: `piled-${i}@example.com`,
              occurredAt: new Date().toISOString(),
              messageId: `piled-${i}`,
            }]],
          });
        }
      }));
    } finally {
      await stack.startWorker();
    }
    const events = stack.env.client.workflow.getHandle(eventsWorkflowIdFor(id));
    await eventually(async () => (await events.query<{ delivered: number }>('engagement')).delivered === n, 90_000);
    assert.equal(stack.worker.getState(), 'RUNNING');
    await eventually(() => eventsFor(stack, id).length === n, 30_000);
    const signalSpans = spans.getFinishedSpans().filter((s) => s.name === 'HandleSignal:deliveryEvents');
    assert.equal(signalSpans.length, 0);
  });
});

describe('provider webhooks through Postmark', { timeout: 120_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ ...settings, PRIMARY_EMAIL_PROVIDER: 'postmark' });
    stack.mock.postmark.setWebhook({ url: `http://127.0.0.1:${stack.webhooks.port}/webhooks/postmark`, ...POSTMARK });
  });
  after(async () => {
    await stack?.close();
  });

  it('hands a hard bounce and a complaint to the backend with their newsletter and recipient, and counts them', async () => {
    const id = await sendAndFinish(stack, 'wpb', 3);
    assert.deepEqual(await stack.mock.postmark.emitEvents('bounced', ['wpb-0@example.com']), [200]);
    assert.deepEqual(await stack.mock.postmark.emitEvents('complained', ['wpb-2@example.com']), [200]);
    const events = await eventually(() => eventsFor(stack, id).length >= 2 && eventsFor(stack, id), 20_000);
    assert.deepEqual(
      events.map((e) => [e.kind, e.bounce, e.provider, e.email, e.recipient_id]),
      [
        ['bounced', 'hard', 'postmark', 'wpb-0@example.com', 'wpb--0'],
        ['complained', undefined, 'postmark', 'wpb-2@example.com', 'wpb--2'],
      ],
    );
    const counts = await status(stack, id);
    assert.deepEqual([counts.bounced, counts.complained], [1, 1]);
    const listed = await listAll(stack);
    assert.deepEqual(
      listed.map((s) => [s.email, s.reason, s.source]),
      [['wpb-0@example.com', 'hard_bounce', 'postmark'], ['wpb-2@example.com', 'complaint', 'postmark']],
    );
    // The next newsletter to the same people skips both (once the workers' copies caught up).
    await sleep(MAX_AGE_MS + 50);
    const next = newsletterId('wpb2');
    await stack.newsletters.sendNewsletter(newsletterRequest(next, recipients(3, 'wpb-')), auth).response;
    const done = await finalStatus(stack, next);
    assert.deepEqual([done.sent, done.skipped], [1, 2]);
    const sentTo = (addr: string) => stack.mock.postmark.received().filter((e) => e.to[0] === addr).length;
    assert.deepEqual(['wpb-0', 'wpb-1', 'wpb-2'].map((p) => sentTo(`${p}@example.com`)), [1, 2, 1]);
  });

  it('hands the webhooks about one newsletter that arrive together to its events workflow in fewer signals than webhooks, each counted once', async () => {
    const id = await sendAndFinish(stack, 'wpg', 200);
    const url = `http://127.0.0.1:${stack.webhooks.port}/webhooks/postmark`;
    const authorization = `Basic ${Buffer.from(`${POSTMARK.user}:${POSTMARK.password}`).toString('base64')}`;
    const emails = stack.mock.postmark.received().filter((e) => e.to[0]!.startsWith('wpg-'));
    assert.equal(emails.length, 200);
    const answers = await Promise.all(emails.map(async (email) => {
      const delivery = postmarkWebhook(email, 'delivered');
      const response = await fetch(url, {
        method: 'POST',
        headers: { ...delivery.headers, authorization },
        body: delivery.body,
      });
      await response.arrayBuffer();
      return response.status;
    }));
    assert.deepEqual(new Set(answers), new Set([200]));
    assert.equal((await status(stack, id)).delivered, 200);
    const history = await stack.env.client.workflow.getHandle(eventsWorkflowIdFor(id)).fetchHistory();
    const signals = history.events!.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
    // One signal per webhook would be 200. How many share one depends on the timing (about 20 on an
    // idle machine, 65 seen on a busy one): at most half is what grouping always gives here.
    assert.ok(signals <= 100, `${signals} signals for 200 webhooks`);
  });

  it("takes an unsubscribe through Postmark's own link to the backend and the suppression list: a later newsletter failed over to Resend skips the address too", async () => {
    const id = await sendAndFinish(stack, 'wpu', 2);
    assert.deepEqual(await stack.mock.postmark.emitEvents('unsubscribed', ['wpu-1@example.com']), [200]);
    const events = await eventually(() => eventsFor(stack, id).length >= 1 && eventsFor(stack, id), 20_000);
    assert.deepEqual(
      events.map((e) => [e.kind, e.provider, e.email, e.recipient_id]),
      [['unsubscribed', 'postmark', 'wpu-1@example.com', 'wpu--1']],
    );
    const listed = (await listAll(stack)).filter((s) => s.email.startsWith('wpu-'));
    assert.deepEqual(listed.map((s) => [s.email, s.reason, s.source]), [[
      'wpu-1@example.com',
      'unsubscribe',
      'postmark',
    ]]);
    // Postmark refuses its account for the next one: it goes through Resend, whose list knows nothing of the unsubscribe.
    await sleep(MAX_AGE_MS + 50);
    stack.mock.postmark.injectFault({ status: 401, durationMs: 60_000 });
    try {
      const next = newsletterId('wpu2');
      await stack.newsletters.sendNewsletter(newsletterRequest(next, recipients(2, 'wpu-')), auth).response;
      const done = await finalStatus(stack, next);
      assert.deepEqual([done.sent, done.skipped, done.sentByProvider], [1, 1, { resend: 1 }]);
      assert.deepEqual(stack.mock.resend.received().flatMap((e) => e.to), ['wpu-0@example.com']);
    } finally {
      stack.mock.postmark.clearFaults();
    }
  });

  it('lists an address Postmark refuses as inactive (406) with no webhook about it: a later newsletter failed over to Resend skips it too', async () => {
    // Postmark knows the address as inactive from before (an import, another app): no event comes.
    stack.mock.postmark.failAddresses('inactive', ['wpi-1@example.com']);
    const id = await sendAndFinish(stack, 'wpi', 2);
    const first = await status(stack, id);
    assert.deepEqual([first.sent, first.skipped], [1, 1]);
    const listed = (await listAll(stack)).filter((s) => s.email.startsWith('wpi-'));
    assert.deepEqual(listed.map((s) => [s.email, s.reason, s.source]), [[
      'wpi-1@example.com',
      'provider_suppressed',
      'postmark',
    ]]);
    await sleep(MAX_AGE_MS + 50);
    stack.mock.postmark.injectFault({ status: 401, durationMs: 60_000 });
    try {
      const next = newsletterId('wpi2');
      await stack.newsletters.sendNewsletter(newsletterRequest(next, recipients(2, 'wpi-')), auth).response;
      const done = await finalStatus(stack, next);
      assert.deepEqual([done.sent, done.skipped, done.sentByProvider], [1, 1, { resend: 1 }]);
      assert.ok(!stack.mock.resend.received().some((e) => e.to.includes('wpi-1@example.com')));
    } finally {
      stack.mock.postmark.clearFaults();
    }
  });
});

describe('provider events while the backend is down', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    // A low suggestion makes the events workflow's history "full" after a few dozen webhooks.
    stack = await startStack(settings, ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=60']);
    stack.mock.resend.setWebhook({ url: `http://127.0.0.1:${stack.webhooks.port}/webhooks/resend`, secret: SECRET });
  });
  after(async () => {
    await stack?.close();
  });

  it('keeps taking events while the backend refuses them: the events workflow continues as new meanwhile, and hands every event over once the backend is back', async () => {
    const id = await sendAndFinish(stack, 'wbo', 50);
    const addresses = Array.from({ length: 50 }, (_, i) => `wbo-${i}@example.com`);
    stack.backend.failCallbacksFor(600_000, 503);
    try {
      for (const kind of ['delivered', 'opened', 'clicked'] as const) {
        assert.ok((await stack.mock.resend.emitEvents(kind, addresses)).every((s) => s === 200));
      }
      // Waiting on the backend never holds the workflow's history: it grows with every webhook.
      const runs = async () => {
        let n = 0;
        for await (const _ of stack.env.client.workflow.list({ query: `WorkflowId = '${eventsWorkflowIdFor(id)}'` })) {
          n++;
        }
        return n;
      };
      await eventually(async () => (await runs()) >= 2, 30_000, 500);
      const counts = await status(stack, id);
      assert.deepEqual([counts.delivered, counts.opened, counts.clicked], [50, 50, 50], 'counted across runs');
    } finally {
      stack.backend.failCallbacksFor(0, 503);
    }
    const delivered = await eventually(
      () => {
        const ids = new Set(eventsFor(stack, id).map((e) => e.event_id));
        return ids.size === 150 ? ids : undefined;
      },
      120_000,
      500,
    );
    assert.equal(delivered.size, 150, 'every event once the backend is back');
  });
});

describe('a full suppression shard', { timeout: 120_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack(settings);
    stack.mock.resend.setWebhook({ url: `http://127.0.0.1:${stack.webhooks.port}/webhooks/resend`, secret: SECRET });
  });
  after(async () => {
    await stack?.close();
  });

  it('refuses more addresses with RESOURCE_EXHAUSTED, and a bounce for it still reaches the backend', async () => {
    const shard = shardOf('full-0@example.com');
    const inShard = Array.from({ length: 2_000 }, (_, i) => `full-${i}@example.com`).filter((e) =>
      shardOf(e) === shard
    );
    // The shard, started before anything else uses it, with room for one entry.
    await stack.env.client.workflow.start(suppressionListWorkflow, {
      workflowId: suppressionWorkflowId(shard),
      taskQueue: stack.config.temporal.taskQueue,
      args: [{ shard, maxBytes: 150 }],
    });
    const first = await stack.newsletters.addSuppression({ emails: [inShard[0]!], detail: '' }, auth).response;
    assert.equal(first.added, 1);
    const refused = await outcomeOf(
      stack.newsletters.addSuppression({ emails: inShard.slice(1, 5), detail: 'imported' }, auth).response,
    );
    assert.equal(refused.code, 'RESOURCE_EXHAUSTED');
    assert.match(refused.message, new RegExp(`suppression shard ${shard} is full \\(1 addresses`));
    assert.deepEqual((await listAll(stack)).map((s) => s.email), [inShard[0]], 'nothing of the refused call recorded');

    // A hard bounce of an address in that shard: acknowledged, forwarded, and the operator told.
    const id = newsletterId('full');
    const bounced = inShard[5]!;
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, [{ email: bounced, name: 'F', variables: {}, recipientId: 'f5' }]),
      auth,
    ).response;
    assert.equal((await finalStatus(stack, id)).sent, 1);
    assert.deepEqual(await stack.mock.resend.emitEvents('bounced', [bounced]), [200]);
    await eventually(() => eventsFor(stack, id).some((e) => e.kind === 'bounced'), 20_000);
    assert.ok(stack.logs.some((line) => line.includes('address not suppressed: its suppression shard is full')));
  });
});
