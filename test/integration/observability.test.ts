/**
 * One newsletter, one trace: with Resend down, the spans recorded by the service form a
 * single connected trace from the gRPC server span through StartWorkflow, RunWorkflow and
 * every RunActivity down to the provider calls of both providers, with the failover on it.
 * The delivery metrics count what happened.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NewsletterState, SendNewsletterRequest } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { workflowIdFor } from '../../src/domain/types.ts';
import { Timestamp } from '../../contracts/gen/google/protobuf/timestamp.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { spans, type Stack, startStack } from './harness.ts';

/** metricValue reads one sample of the worker registry by name and labels (any label order). */
async function metricValue(stack: Stack) {
  const lines = (await stack.metrics.registry.metrics()).split('\n');
  return (name: string, labels: Record<string, string>) => {
    const line = lines.find((l) =>
      l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))
    );
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
  };
}

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const WEBHOOK_SECRET = `whsec_${Buffer.from('observability-webhook-secret').toString('base64')}`;

describe('observability', { timeout: 300_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      NEWSLETTER_BATCH_SIZE: '10',
      CIRCUIT_BREAKER_FAILURE_THRESHOLD: '100',
      RESEND_WEBHOOK_SECRET: WEBHOOK_SECRET,
    });
    stack.mock.resend.setWebhook({
      url: `http://127.0.0.1:${stack.webhooks.port}/webhooks/resend`,
      secret: WEBHOOK_SECRET,
    });
  });
  after(async () => {
    await stack?.close();
  });

  it('records one connected trace per newsletter, from the gRPC call to both providers, with the failover', async () => {
    stack.mock.resend.injectFault({ status: 503, durationMs: 600_000 });
    const id = newsletterId('traced');
    const call = stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(20, 'o'), {
        subject: 'Hi {{name}}',
        htmlContent: '<p>{{name}}</p>',
        textContent: '',
      }),
      { meta: { ...stack.auth.meta, traceparent: `00-${CALLER_TRACE}-00f067aa0ba902b7-01` } },
    );
    const headers = await call.headers;
    await call.response;
    assert.equal(headers['x-trace-id'], CALLER_TRACE, "the response names the trace, continuing the caller's");

    const status = await eventually(async () => {
      const { response } = await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth);
      return response.status!.state === NewsletterState.COMPLETED ? response.status! : undefined;
    }, 120_000);
    assert.equal(status.traceId, CALLER_TRACE, 'the status leads from the newsletter to its trace');
    const trace = await eventually(() => {
      const t = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === CALLER_TRACE);
      return t.some((s) => s.name.startsWith('RunWorkflow')) &&
          t.filter((s) => s.name === 'postmark send batch').length >= 2
        ? t
        : undefined;
    }, 30_000);

    const byId = new Map(trace.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: ReadableSpan) => s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
    const ancestors = (s: ReadableSpan) => {
      const names: string[] = [];
      for (let p = parentOf(s); p; p = parentOf(p)) names.push(p.name);
      return names;
    };
    const named = (prefix: string) => trace.filter((s) => s.name.startsWith(prefix));

    const server = named('authentik.temporal.v1.NewsletterService/SendNewsletter');
    assert.equal(server.length, 1);
    assert.equal(server[0]!.parentSpanId, '00f067aa0ba902b7', "continues the caller's span");
    for (const s of trace.filter((s) => s !== server[0])) {
      assert.ok(
        ancestors(s).includes('authentik.temporal.v1.NewsletterService/SendNewsletter'),
        `${s.name} is not connected to the gRPC span`,
      );
    }
    assert.equal(named('StartWorkflow:newsletterWorkflow').length, 1);
    assert.ok(named('RunWorkflow:newsletterWorkflow').length >= 1);
    assert.ok(named('RunActivity:sendBatch').length >= 4, 'both batches on both providers');
    assert.ok(named('RunActivity:notifyBackend').length >= 1, 'backend callbacks are in the trace');
    assert.ok(named('backend status callback').length >= 1);
    // The backend can join the trace: each callback carries its span's context.
    const callbacks = stack.backend.received.filter((r) => r.event.newsletter_id === id);
    assert.ok(callbacks.length >= 2);
    for (const r of callbacks) {
      const [, traceId, spanId] = r.traceparent?.split('-') ?? [];
      assert.equal(traceId, CALLER_TRACE, `${r.event.event_id} carries the newsletter's trace`);
      assert.equal(byId.get(spanId!)?.name, 'backend status callback');
    }

    const resendCalls = named('resend send batch');
    assert.ok(resendCalls.length >= 2);
    assert.ok(
      resendCalls.every((s) =>
        s.attributes['email.failure_class'] === 'transient' && s.attributes['http.response.status_code'] === 503
      ),
    );
    const postmarkCalls = named('postmark send batch');
    assert.ok(postmarkCalls.every((s) => s.attributes['email.sent'] === 10 && s.attributes['email.batch_size'] === 10));
    for (const s of [...resendCalls, ...postmarkCalls]) {
      assert.ok(ancestors(s).some((n) => n === 'RunActivity:sendBatch'), `${s.name} not under an activity`);
    }
    const failovers = trace.flatMap((s) => s.events.filter((e) => e.name === 'failover'));
    assert.ok(failovers.length >= 2);
    assert.deepEqual(
      {
        from: failovers[0]!.attributes!['email.provider'],
        to: failovers[0]!.attributes!['failover.to'],
        reason: failovers[0]!.attributes!['failover.reason'],
      },
      { from: 'resend', to: 'postmark', reason: 'transient' },
    );
  });

  it('counts deliveries, failovers and provider calls in the worker metrics', async () => {
    const value = await metricValue(stack);
    assert.equal(value('newsletter_emails_total', { provider: 'postmark', result: 'sent', error_class: 'none' }), 20);
    assert.ok(value('newsletter_failovers_total', { from: 'resend', to: 'postmark', reason: 'transient' }) >= 2);
    assert.ok(
      value('newsletter_provider_call_duration_seconds_count', { provider: 'resend', outcome: 'transient' }) >= 2,
    );
    assert.equal(value('newsletter_newsletters_finished_total', { state: 'COMPLETED' }), 1);
    // Begun and ended are both counted by the worker (the stuck alert compares them across restarts).
    assert.equal(value('newsletter_newsletters_started_total', {}), 1);
    assert.equal(value('newsletter_batches_in_flight', { provider: 'resend' }), 0);
  });

  it("puts a newsletter's provider events in its trace: the webhook's hand-off, the events workflow and its callback to the backend", async () => {
    const traceId = '7cf92f3577b34da6a3ce929d0e0e4738';
    stack.mock.resend.clearFaults();
    const id = newsletterId('traced-events');
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(2, 'te')),
      { meta: { ...stack.auth.meta, traceparent: `00-${traceId}-00f067aa0ba902b9-01` } },
    ).response;
    await eventually(async () => {
      const { response } = await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth);
      return response.status!.state === NewsletterState.COMPLETED;
    }, 60_000);
    assert.deepEqual(await stack.mock.resend.emitEvents('delivered', ['te0@example.com']), [200]);
    const callback = await eventually(
      () => stack.backend.events.find((c) => c.event.newsletter_id === id),
      30_000,
    );
    assert.equal(callback.traceparent?.split('-')[1], traceId, "the /events callback carries the newsletter's trace");
    const inTrace = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const handOff = inTrace.filter((s) => s.name === 'provider events');
    assert.equal(handOff.length, 1, 'the hand-off span is in the trace');
    // A child of the span that started the newsletter, which is exported: no dangling parent.
    const server = inTrace.find((s) => s.name === 'authentik.temporal.v1.NewsletterService/SendNewsletter');
    assert.equal(handOff[0]!.parentSpanId, server?.spanContext().spanId);
  });

  it('gives a newsletter started through WorkflowService.StartWorkflow its trace as SendNewsletter does: in the status, the memo and its callbacks', async () => {
    const traceId = '3df92f3577b34da6a3ce929d0e0e4739';
    const id = newsletterId('traced-generic');
    const request = newsletterRequest(id, recipients(2, 'tg'));
    await stack.workflows.startWorkflow(
      {
        workflowType: 'newsletterWorkflow',
        workflowId: '',
        argsJson: JSON.stringify([SendNewsletterRequest.toJson(request)]),
      },
      { meta: { ...stack.auth.meta, traceparent: `00-${traceId}-00f067aa0ba902ba-01` } },
    ).response;
    const status = await eventually(async () => {
      const { response } = await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth);
      return response.status!.state === NewsletterState.COMPLETED ? response.status! : undefined;
    }, 60_000);
    assert.equal(status.traceId, traceId);
    const memo = (await stack.env.client.workflow.getHandle(workflowIdFor(id)).describe()).memo;
    assert.equal(memo?.['trace_id'], traceId);
    const started = await eventually(
      () => stack.backend.received.find((c) => c.event.event_id === `${id}:started`),
      30_000,
    );
    assert.equal(started.traceparent?.split('-')[1], traceId);
  });

  it("links a pause, resume, reschedule or cancel made in another trace to the newsletter's: its trace id and the span that started it", async () => {
    const traceId = '2ef92f3577b34da6a3ce929d0e0e473a';
    const scheduledTrace = '2ef92f3577b34da6a3ce929d0e0e473c';
    /** steering[method] is the trace each steering call is made in: one of its own. */
    const steering = {
      PauseNewsletter: '1ff92f3577b34da6a3ce929d0e0e473d',
      ResumeNewsletter: '1ff92f3577b34da6a3ce929d0e0e473e',
      CancelNewsletter: '1ff92f3577b34da6a3ce929d0e0e473b',
      RescheduleNewsletter: '1ff92f3577b34da6a3ce929d0e0e473f',
    };
    const inTrace = (trace: string, span: string) => ({
      meta: { ...stack.auth.meta, traceparent: `00-${trace}-${span}-01` },
    });
    const id = newsletterId('traced-steer');
    const scheduled = newsletterId('traced-resched');
    stack.mock.resend.setLatency(300);
    try {
      await stack.newsletters.sendNewsletter(
        newsletterRequest(id, recipients(30, 'ts')),
        inTrace(traceId, '00f067aa0ba902bb'),
      ).response;
      await stack.newsletters.pauseNewsletter(
        { newsletterId: id },
        inTrace(steering.PauseNewsletter, '00f067aa0ba902bd'),
      ).response;
      await stack.newsletters.resumeNewsletter(
        { newsletterId: id },
        inTrace(steering.ResumeNewsletter, '00f067aa0ba902be'),
      ).response;
      await stack.newsletters.cancelNewsletter(
        { newsletterId: id, reason: 'test' },
        inTrace(steering.CancelNewsletter, '00f067aa0ba902bc'),
      ).response;
      const later = Timestamp.fromDate(new Date(Date.now() + 3_600_000));
      await stack.newsletters.sendNewsletter(
        newsletterRequest(scheduled, recipients(2, 'tsr'), { sendAt: later }),
        inTrace(scheduledTrace, '00f067aa0ba902c1'),
      ).response;
      await stack.newsletters.rescheduleNewsletter(
        { newsletterId: scheduled, sendAt: Timestamp.fromDate(new Date(Date.now() + 7_200_000)) },
        inTrace(steering.RescheduleNewsletter, '00f067aa0ba902bf'),
      ).response;
      await stack.newsletters.cancelNewsletter({ newsletterId: scheduled, reason: 'test over' }, stack.auth).response;
    } finally {
      stack.mock.resend.setLatency(0);
    }
    const finished = spans.getFinishedSpans();
    const startedIn = (trace: string) =>
      finished.find((s) =>
        s.spanContext().traceId === trace && s.name === 'authentik.temporal.v1.NewsletterService/SendNewsletter'
      )!;
    for (const [method, trace] of Object.entries(steering)) {
      const newsletterTrace = method === 'RescheduleNewsletter' ? scheduledTrace : traceId;
      const span = finished.find((s) =>
        s.spanContext().traceId === trace && s.name === `authentik.temporal.v1.NewsletterService/${method}`
      );
      assert.ok(span, `${method} made a span in its own trace`);
      assert.equal(span.attributes['newsletter.trace_id'], newsletterTrace, method);
      assert.deepEqual(
        span.links.map((l) => [l.context.traceId, l.context.spanId]),
        [[newsletterTrace, startedIn(newsletterTrace).spanContext().spanId]],
        method,
      );
    }
  });

  it("keeps results the backend did not take at once in the newsletter's trace: their results workflow's posts join it", async () => {
    const traceId = '5cf92f3577b34da6a3ce929d0e0e4737';
    stack.mock.resend.clearFaults();
    // The backend refuses callbacks for a while: the results go to a results workflow, which retries.
    stack.backend.failCallbacksFor(1_500, 503);
    const id = newsletterId('traced-results');
    await stack.newsletters.sendNewsletter(
      newsletterRequest(id, recipients(5, 'tr')),
      { meta: { ...stack.auth.meta, traceparent: `00-${traceId}-00f067aa0ba902b8-01` } },
    ).response;
    const results = await eventually(() => {
      const t = spans.getFinishedSpans().filter((s) =>
        s.name === 'RunActivity:postResults' && String(s.attributes['temporalWorkflowId']).includes(id)
      );
      return t.length > 0 ? t : undefined;
    }, 60_000);
    assert.deepEqual(new Set(results.map((s) => s.spanContext().traceId)), new Set([traceId]));
  });

  it('counts a newsletter finished when it finishes, not when the backend hears of it; one cancelled before its send time neither began nor finished', async () => {
    const counts = async () => {
      const value = await metricValue(stack);
      return {
        started: value('newsletter_newsletters_started_total', {}),
        completed: value('newsletter_newsletters_finished_total', { state: 'COMPLETED' }),
        cancelled: value('newsletter_newsletters_finished_total', { state: 'CANCELLED' }),
      };
    };
    const before = await counts();
    // The backend is down: the started and final callbacks wait (for up to 25 hours).
    stack.backend.failCallbacksFor(600_000, 503);
    try {
      const id = newsletterId('counted');
      await stack.newsletters.sendNewsletter(newsletterRequest(id, recipients(3, 'cn')), stack.auth).response;
      await eventually(async () => {
        const s = (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status!;
        return s.state === NewsletterState.COMPLETED || undefined;
      }, 60_000);
      await eventually(async () => (await counts()).completed === before.completed + 1 || undefined, 10_000, 100);

      const scheduled = newsletterId('counted-later');
      const sendAt = Timestamp.fromDate(new Date(Date.now() + 3_600_000));
      await stack.newsletters.sendNewsletter(newsletterRequest(scheduled, recipients(3, 'cl'), { sendAt }), stack.auth)
        .response;
      await stack.newsletters.cancelNewsletter({ newsletterId: scheduled, reason: 'not needed' }, stack.auth).response;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.deepEqual(await counts(), { ...before, started: before.started + 1, completed: before.completed + 1 });
    } finally {
      stack.backend.failCallbacksFor(0, 503);
    }
  });
});
