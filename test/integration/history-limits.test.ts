/**
 * Workflows on a real Temporal dev server whose history limits are low, as after thousands
 * of events in production: a newsletter's events workflow whose webhooks piled up while no
 * worker ran (their signals are in Temporal) must not make its continue-as-new input too big
 * to carry, and a scheduled newsletter continues as new while it waits.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { dataConverter } from '../../src/data-converter.ts';
import { type DeliveryEvent, eventsWorkflowIdFor } from '../../src/domain/events.ts';
import { workflowsPath } from '../../src/worker/worker.ts';
import {
  deliveryEventsSignal,
  engagementQuery,
  EVENTS_HANDOVER_BATCHES,
  newsletterEventsWorkflow,
} from '../../src/workflows/events.ts';
import { getStatusQuery, newsletterWorkflow, rescheduleUpdate } from '../../src/workflows/newsletter.ts';
import { lifecycleSinks } from '../../src/telemetry/lifecycle-sink.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterInput, recipients, silentLogger } from '../support/fixtures.ts';
import { temporalCli } from './harness.ts';

describe('workflows whose history fills up', { timeout: 240_000 }, () => {
  let env: TestWorkflowEnvironment;
  let workflowBundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
  before(async () => {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporalCli() },
        ip: '127.0.0.1',
        // Its history is "full" after a few dozen events, as after thousands in production.
        extraArgs: ['--headless', '--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=60'],
      },
      client: { dataConverter },
    });
    workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: silentLogger });
  });
  after(async () => {
    await env?.teardown();
  });

  it('hands over the events that piled up during a worker outage before continuing as new, not in its next input', async () => {
    const taskQueue = `ev-${randomUUID()}`;
    const newsletterId = `piled-${randomUUID().slice(0, 8)}`;
    // 401 webhooks' worth of signals, 50 events each: carried whole, over 2 MiB even compressed.
    // Every field its own random value, as a provider's event, message and recipient ids are.
    const event = (): DeliveryEvent => ({
      eventId: `resend:msg_${randomUUID()}`,
      provider: 'resend',
      kind: 'delivered',
      newsletterId,
      recipientId: `r-${randomUUID()}`,
      email: `${randomUUID()}@example.com`,
      occurredAt: new Date().toISOString(),
      messageId: randomUUID(),
    });
    const start = (events: DeliveryEvent[]) =>
      env.client.workflow.signalWithStart(newsletterEventsWorkflow, {
        workflowId: eventsWorkflowIdFor(newsletterId),
        taskQueue,
        args: [{ newsletterId }],
        signal: deliveryEventsSignal,
        signalArgs: [events],
      });
    const first = await start(Array.from({ length: 50 }, event));
    for (let sent = 1; sent < 400; sent += 20) {
      await Promise.all(Array.from({ length: 20 }, () => start(Array.from({ length: 50 }, event))));
    }
    const total = 401 * 50;

    const handedOver: number[] = [];
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      dataConverter,
      activities: {
        postEvents: (callback: { events: unknown[] }) => {
          handedOver.push(callback.events.length);
          return Promise.resolve('sent');
        },
      },
    });
    await worker.runUntil(async () => {
      const handle = env.client.workflow.getHandle(eventsWorkflowIdFor(newsletterId));
      await eventually(
        async () => (await handle.query(engagementQuery)).delivered === total || undefined,
        120_000,
        500,
      );
      await eventually(
        () => Promise.resolve(handedOver.reduce((a, b) => a + b, 0) === total || undefined),
        60_000,
        500,
      );
      const firstRun = env.client.workflow.getHandle(first.workflowId, first.signaledRunId);
      const history = await eventually(async () => {
        const h = await firstRun.fetchHistory();
        return h.events!.some((e) => e.workflowExecutionContinuedAsNewEventAttributes) ? h : undefined;
      }, 30_000);
      // Signals that arrive as it completes make Temporal refuse that completion (UnhandledCommand,
      // retried at once, by design); nothing else may fail its tasks, a payload over the limit least.
      const failed = history.events!.flatMap((e) => e.workflowTaskFailedEventAttributes ?? []);
      assert.deepEqual(failed.filter((f) => f.cause !== 1).map((f) => f.failure?.message), []);
      // A few dozen batches at a time: all at once, 100,000 events' batches are one workflow task's
      // commands of over 4 MiB, which Temporal refuses (and terminates the workflow for).
      const perTask = new Map<string, number>();
      for (const e of history.events!) {
        const started = e.startChildWorkflowExecutionInitiatedEventAttributes;
        if (!started) continue;
        const task = String(started.workflowTaskCompletedEventId);
        perTask.set(task, (perTask.get(task) ?? 0) + 1);
      }
      assert.ok(
        Math.max(...perTask.values()) <= EVENTS_HANDOVER_BATCHES,
        `batches handed over in one workflow task: ${[...perTask.values()]}`,
      );
    });
  });

  it('continues a scheduled newsletter as new while it waits, its send time and status carried', async () => {
    const taskQueue = `sched-${randomUUID()}`;
    const day = 24 * 3600_000;
    const input = newsletterInput(`later-${randomUUID().slice(0, 8)}`, {
      recipients: recipients(2, 'later'),
      sendAt: new Date(Date.now() + day).toISOString(),
    });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      dataConverter,
      activities: { notifyBackend: () => Promise.resolve('disabled') },
      sinks: lifecycleSinks(undefined),
    });
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(newsletterWorkflow, {
        args: [input],
        taskQueue,
        workflowId: `wf-${randomUUID()}`,
      });
      // Each reschedule adds a few events: far more than the server's suggestion of 60.
      let last = '';
      for (let i = 1; i <= 30; i++) {
        last = new Date(Date.now() + day + i * 60_000).toISOString();
        await env.client.workflow.getHandle(handle.workflowId).executeUpdate(rescheduleUpdate, { args: [last] });
      }
      const latest = env.client.workflow.getHandle(handle.workflowId);
      const runId = await eventually(async () => {
        const { runId } = await latest.describe();
        return runId !== handle.firstExecutionRunId ? runId : undefined;
      }, 30_000);
      assert.ok(runId, 'a new run');
      const status = await latest.query(getStatusQuery);
      assert.deepEqual([status.state, status.scheduledFor], ['SCHEDULED', last]);
      const first = await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
      assert.ok(first.events!.length < 200, `${first.events!.length} events in the first run`);
    });
  });
});
