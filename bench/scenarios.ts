/**
 * The scenarios, each a function that starts what it needs, measures into M and stops
 * what it started. See bench/README.md for what each one measures.
 */
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type DeliveryEvent, eventsWorkflowIdFor } from '../src/domain/events.ts';
import { workflowIdFor } from '../src/domain/types.ts';
import { engagementQuery } from '../src/workflows/events.ts';
import { freePort } from '../test/support/ports.ts';
import { recipients } from '../test/support/fixtures.ts';
import { historyStats } from '../test/support/history.ts';
import {
  bounded,
  type Context,
  delivery,
  fanOut,
  finalStatus,
  FLOOR_QUEUE,
  heapFigures,
  newsletterRun,
  processes,
  sampleMemory,
  sendNewsletter,
  terminate,
  until,
  useSuppressionList,
  warmUp,
} from './lib/measure.ts';
import { breakdown } from './lib/breakdown.ts';
import { addTasks, noTasks } from './lib/tasks.ts';
import { type Child, rssMb, startNode, stop, watch } from './lib/procs.ts';
import {
  BATCH,
  CONCURRENCY_1M,
  CPU_PROFILE,
  IN_FLIGHT,
  key,
  kN,
  LATENCIES,
  log,
  M,
  N_1M,
  N_FAIR,
  N_LARGE,
  N_PILED,
  N_RATE,
  N_SMALL,
  N_WEBHOOKS,
  type Outcome,
  PER_EMAIL_N,
  type PiledUpRun,
  RATE,
  RATE_LATENCY_MS,
  serviceEnv,
  wanted,
  WEBHOOK_CONCURRENCY,
} from './lib/settings.ts';
import { type Service, startFloorWorker, startService } from './lib/stack.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** runDirect: bench/direct.ts (Resend SDK, batch 100, 8 in flight, no Temporal) for N=10k and 100k at both latencies. */
export async function runDirect(ctx: Context): Promise<void> {
  for (const latency of LATENCIES) {
    for (const n of [N_SMALL, N_LARGE]) {
      await ctx.mock.setup(latency);
      M.direct[key(latency, n)] = await bounded(`direct ${key(latency, n)}`, 60_000 + n * 2, async (signal) => {
        const child = startNode(`direct-${key(latency, n)}`, `${ROOT}bench/direct.ts`, [
          '--resend-url',
          ctx.mock.resendUrl,
          '--n',
          String(n),
          '--prefix',
          `d${latency}-${kN(n)}-`,
          '--batch',
          String(BATCH),
          '--in-flight',
          String(IN_FLIGHT),
        ], { stdout: 'pipe' });
        let out = '';
        child.process.stdout!.on('data', (chunk: Buffer) => out += chunk.toString());
        signal.addEventListener('abort', () => void stop(child));
        const code = await child.exited;
        if (code !== 0) throw new Error(`direct exited with ${code}; see ${child.logPath}`);
        const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
          startedAt: number;
          finishedAt: number;
          errors: number;
        };
        return { n, elapsedMs: r.finishedAt - r.startedAt, errors: r.errors, ...await delivery(ctx.mock, r.startedAt) };
      });
    }
  }
}

/** runOurs: one bridge + one worker process; N=10k inline and 100k from a backend list at both latencies (and 2k at 200 ms for per-email). */
export async function runOurs(ctx: Context): Promise<void> {
  const service = await startService({
    name: 'ours',
    temporal: ctx.temporal!,
    mock: ctx.mock,
    backendUrl: ctx.backend.url,
    workers: 1,
    env: serviceEnv('bench-ours'),
    cpuProfile: CPU_PROFILE,
  });
  try {
    await warmUp(ctx, service, 'ours');
    // 20 ms first, with N=10k on a fresh worker: its peak RSS is the 10k figure the 1M one is compared with.
    const runs: Array<[number, number, 'inline' | 'list']> = [
      [20, N_SMALL, 'inline'],
      [20, N_LARGE, 'list'],
      [200, N_SMALL, 'inline'],
      [200, N_LARGE, 'list'],
      // At BENCH_SCALE 0.01 or less this is N_SMALL again: run it once.
      ...(PER_EMAIL_N[200] !== N_SMALL ? [[200, PER_EMAIL_N[200]!, 'inline'] as [number, number, 'inline']] : []),
    ];
    for (const [latency, n, kind] of runs) {
      await ctx.mock.setup(latency);
      const prefix = `o${latency}-${kN(n)}-`;
      const source = kind === 'inline' ? { inline: recipients(n, prefix) } : { listId: `list-${prefix}` };
      if (kind === 'list') ctx.backend.setList(`list-${prefix}`, n, prefix);
      const ideal = Math.ceil(n / BATCH / IN_FLIGHT) * latency;
      M.ours[key(latency, n)] = await bounded(
        `ours ${key(latency, n)} (${kind})`,
        90_000 + ideal * 4,
        (signal) => newsletterRun(ctx, service, `ours-${key(latency, n)}`, source, n, signal),
      );
    }
  } finally {
    await service.stop();
  }
}

/** runFloorAndPerEmail: bench/floor-worker.ts; no-op fan-outs as many as ours' requests (floor), then one activity per email (per-email). */
export async function runFloorAndPerEmail(ctx: Context): Promise<void> {
  const worker: Child = await startFloorWorker(ctx.temporal!, ctx.mock, FLOOR_QUEUE);
  try {
    M.idleRssMb['floor-worker'] = rssMb(worker.pid);
    await ctx.mock.setup(0);
    const warm = await bounded(
      'floor: warm-up',
      60_000,
      (signal) => fanOut(ctx, { kind: 'noop', total: 16, concurrency: IN_FLIGHT, latencyMs: 0, prefix: '' }, signal),
    );
    if (typeof warm === 'string') throw new Error('floor: the warm-up fan-out did not finish');
    if (wanted('floor')) {
      for (const latency of LATENCIES) {
        for (const n of [N_SMALL, N_LARGE]) {
          await ctx.mock.setup(latency);
          const activities = Math.ceil(n / BATCH);
          const ideal = Math.ceil(activities / IN_FLIGHT) * latency;
          M.floor[key(latency, n)] = await bounded(
            `floor ${key(latency, n)} (${activities} activities)`,
            60_000 + ideal * 4,
            (signal) =>
              fanOut(
                ctx,
                { kind: 'noop', total: activities, concurrency: IN_FLIGHT, latencyMs: latency, prefix: '' },
                signal,
              ),
          );
        }
        // The same without eager dispatch: every activity through matching, as the service's sends go.
        const activities = Math.ceil(N_LARGE / BATCH);
        await ctx.mock.setup(latency);
        M.floorMatched[key(latency, N_LARGE)] = await bounded(
          `floor ${key(latency, N_LARGE)} without eager dispatch`,
          60_000 + Math.ceil(activities / IN_FLIGHT) * latency * 4,
          (signal) =>
            fanOut(ctx, {
              kind: 'noop',
              total: activities,
              concurrency: IN_FLIGHT,
              latencyMs: latency,
              prefix: '',
              eager: false,
            }, signal),
        );
      }
    }
    if (wanted('per-email')) {
      for (const latency of LATENCIES) {
        const n = PER_EMAIL_N[latency]!;
        await ctx.mock.setup(latency);
        M.perEmail[key(latency, n)] = await bounded(
          `per-email ${key(latency, n)}`,
          latency === 20 ? 240_000 : 150_000,
          (signal) =>
            fanOut(ctx, {
              kind: 'email',
              total: n,
              concurrency: IN_FLIGHT,
              latencyMs: latency,
              prefix: `pe${latency}-`,
            }, signal),
        );
      }
    }
  } finally {
    await stop(worker, 40_000);
  }
}

/** runRateLimited: the mock at R requests/s, the service at R with three worker processes, one 30k backend list. */
export async function runRateLimited(ctx: Context): Promise<void> {
  const workers = 3;
  const service = await startService({
    name: 'rate',
    temporal: ctx.temporal!,
    mock: ctx.mock,
    backendUrl: ctx.backend.url,
    workers,
    env: serviceEnv('bench-rate', IN_FLIGHT, RATE),
  });
  try {
    for (const [i, w] of service.workers.entries()) M.idleRssMb[`rate-worker${i + 1}`] = rssMb(w.pid);
    // No warm-up newsletter (the queue's first second is part of what is measured), but the list in use.
    await useSuppressionList(service);
    await ctx.mock.setup(RATE_LATENCY_MS, RATE);
    ctx.backend.setList('list-rate', N_RATE, 'rl-');
    const run = await bounded(
      `rate-limited ${kN(N_RATE)} at ${RATE} requests/s, ${workers} workers`,
      N_RATE / BATCH / RATE * 1000 * 2 + 60_000,
      (signal) => newsletterRun(ctx, service, 'rate', { listId: 'list-rate' }, N_RATE, signal),
    );
    if (typeof run === 'string') {
      M.rateLimited = run;
    } else {
      // When the 429s came: the first second (the idle queue's initial burst) or later.
      const calls = await ctx.mock.control.calls('resend');
      const first = Date.parse(calls[0]!.at);
      const throttled = calls.filter((c) => c.status === 429).map((c) => Date.parse(c.at) - first);
      M.rateLimited = {
        ...run,
        workers,
        throttledInFirstSecond: throttled.filter((ms) => ms < 1_000).length,
        throttledLater: throttled.filter((ms) => ms >= 1_000).length,
        throttledAtMs: throttled.slice(0, 50),
      };
    }
  } finally {
    await ctx.mock.setup(0);
    await service.stop();
  }
}

/**
 * runOneMillion: on a fresh dev server, the small newsletter alone, then 1M recipients from
 * backend pages with the small one started at 10%, then the 1M's history.
 */
export async function runOneMillion(ctx: Context): Promise<void> {
  const service = await startService({
    name: 'million',
    temporal: ctx.temporal!,
    mock: ctx.mock,
    backendUrl: ctx.backend.url,
    workers: 1,
    env: serviceEnv('bench-1m', CONCURRENCY_1M),
    cpuProfile: CPU_PROFILE,
  });
  try {
    await warmUp(ctx, service, 'million');
    // The small newsletter alone, on the same service.
    await ctx.mock.setup(20);
    M.fairness.alone = await bounded('fairness: 500 alone', 60_000, async (signal) => {
      const id = `small-alone-${randomUUID().slice(0, 8)}`;
      const { t0 } = await sendNewsletter(service, id, { inline: recipients(N_FAIR, 'fa-') });
      return (await finalStatus(service, id, t0, signal, 50)).toFinalMs;
    });

    await ctx.mock.setup(20);
    ctx.backend.setList('list-1m', N_1M, 'm-');
    let during: Promise<Outcome<{ ms: number; startedAt: number }>> | undefined;
    let bigEndedAt = Infinity;
    M.oneMillion = await bounded(`1M: ${kN(N_1M)} from backend pages`, 8 * 60_000, async (signal) => {
      const id = `million-${randomUUID().slice(0, 8)}`;
      const w = watch(processes(ctx, service));
      const memory = sampleMemory(service.ops.workers[0]!);
      signal.addEventListener('abort', () => w.end());
      const pages0 = ctx.backend.pageRequests;
      const { t0, sendNewsletterMs } = await sendNewsletter(service, id, { listId: 'list-1m' });
      signal.addEventListener('abort', () => void terminate(ctx.temporal!, workflowIdFor(id)));
      let lastLog = Date.now();
      const { status, toFinalMs, state } = await finalStatus(service, id, t0, signal, 1_000, (sent) => {
        if (!during && sent >= N_1M / 10) {
          // The small newsletter, started once the big one is 10% done.
          during = bounded('fairness: 500 during the 1M', 5 * 60_000, async (signal2) => {
            const small = `small-during-${randomUUID().slice(0, 8)}`;
            const { t0: s0 } = await sendNewsletter(service, small, { inline: recipients(N_FAIR, 'fd-') });
            return { ms: (await finalStatus(service, small, s0, signal2, 50)).toFinalMs, startedAt: s0 };
          });
        }
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          log(`1M: ${sent} sent after ${Math.round((Date.now() - t0) / 1000)} s`);
        }
      });
      bigEndedAt = t0 + toFinalMs;
      const procs = w.end();
      const workerMemory = await heapFigures(service.ops.workers[0]!);
      const workerPeakMemory = await memory.end();
      // The small one's emails are all at the mock before it is counted (at a small BENCH_SCALE it may end after the big one).
      const small = during ? await during : undefined;
      const seen = await delivery(ctx.mock, t0);
      const smallDone = typeof small === 'object';
      return {
        n: N_1M,
        concurrency: CONCURRENCY_1M,
        newsletterId: id,
        sendNewsletterMs,
        state,
        sent: status.sent,
        toFinalMs,
        ...seen,
        // The small newsletter's 500 emails went to the same mock.
        emailsOfThis: seen.emails - (smallDone ? N_FAIR : 0),
        processes: procs,
        workerMemory,
        workerPeakMemory,
        pageRequests: ctx.backend.pageRequests - pages0,
        resultsReported: ctx.backend.results(id),
        workflowId: workflowIdFor(id),
      };
    });
    const small = during ? await during : M.oneMillion === 'TIMEOUT' ? 'TIMEOUT' : 'ERROR';
    if (typeof small === 'object' && small.startedAt >= bigEndedAt) {
      // At a small BENCH_SCALE the 1M may end before the small one is started: that is no "during".
      log('fairness: the small newsletter started after the 1M had ended: not measured during it');
      M.fairness.during = 'ERROR';
    } else M.fairness.during = typeof small === 'object' ? small.ms : small;
  } finally {
    await service.stop();
  }
  if (typeof M.oneMillion === 'object') {
    const run = M.oneMillion;
    M.oneMillion = await bounded('1M: history', 3 * 60_000, async () => {
      const stats = await historyStats(ctx.temporal!.client, run.workflowId);
      const timing = await breakdown(ctx.temporal!.client, run.workflowId, 'sendBatch');
      return {
        ...run,
        breakdown: timing,
        runs: stats.runs.map(({ runId, events, bytes, largestTaskBytes }) => ({
          runId,
          events,
          bytes,
          largestTaskBytes,
        })),
      };
    });
  }
}

/**
 * runWebhooks: N_WEBHOOKS Postmark Delivery webhooks about one newsletter, WEBHOOK_CONCURRENCY at
 * once, through the bridge's endpoint (verified, then handed to the newsletter's events workflow
 * with the others that arrive meanwhile); against the same events signalled one per call straight
 * from a Temporal client (what one signal per webhook costs at best: no HTTP, no bridge).
 */
export async function runWebhooks(ctx: Context): Promise<void> {
  const user = 'bench-hooks';
  const password = `pw-${randomUUID()}`;
  const webhookPort = await freePort('127.0.0.1');
  const service = await startService({
    name: 'hooks',
    temporal: ctx.temporal!,
    mock: ctx.mock,
    backendUrl: ctx.backend.url,
    workers: 1,
    env: {
      ...serviceEnv('bench-hooks'),
      WEBHOOK_PORT: String(webhookPort),
      POSTMARK_WEBHOOK_USER: user,
      POSTMARK_WEBHOOK_PASSWORD: password,
    },
    cpuProfile: CPU_PROFILE,
  });
  const events = (newsletterId: string, n = N_WEBHOOKS) =>
    Array.from({ length: n }, (_, i): DeliveryEvent => ({
      eventId: `postmark:Delivery:${newsletterId}-${i}:2026-11-27T00:00:00Z`,
      provider: 'postmark',
      kind: 'delivered',
      newsletterId,
      recipientId: `r-${i}`,
      email: `w${i}@example.com`,
      occurredAt: '2026-11-27T00:00:00Z',
      messageId: `${newsletterId}-${i}`,
    }));
  /** handOff runs send over every item, WEBHOOK_CONCURRENCY at once; then waits until the newsletter counted all. */
  const handOff = async <T>(
    newsletterId: string,
    items: T[],
    send: (item: T) => Promise<number>,
    signal: AbortSignal,
  ) => {
    const started = performance.now();
    const statuses: Record<string, number> = {};
    let next = 0;
    await Promise.all(Array.from({ length: WEBHOOK_CONCURRENCY }, async () => {
      while (next < items.length && !signal.aborted) {
        const status = await send(items[next++]!);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }));
    const handedMs = performance.now() - started;
    const handle = ctx.temporal!.client.workflow.getHandle(eventsWorkflowIdFor(newsletterId));
    // A query fails while the workflow's task is being retried (thousands of signals in one activation can outlast
    // the workflow isolate's 5 s on a loaded machine, as one per webhook did once in a lean run): asked again, and
    // counted in the results.
    let queryFailures = 0;
    let lastFailure: unknown;
    try {
      await until(signal, 50, async () => {
        const counts = await handle.query(engagementQuery).catch((err) => {
          queryFailures += 1;
          lastFailure = err;
          return undefined;
        });
        return (counts?.delivered ?? 0) >= items.length || undefined;
      });
    } finally {
      // Out of time, a query that kept failing (a wrong id, a handler gone) is the reason: logged beside the TIMEOUT.
      if (lastFailure !== undefined && signal.aborted) {
        log(`webhooks ${newsletterId}: the count query failed ${queryFailures} times, last: ${String(lastFailure)}`);
      }
    }
    return {
      n: items.length,
      at: WEBHOOK_CONCURRENCY,
      handedMs,
      countedMs: performance.now() - started,
      statuses,
      queryFailures,
    };
  };
  /** signalOne hands one event to its newsletter's events workflow on taskQueue, as a client would: one signal. */
  const signalOne = (taskQueue: string) => async (event: DeliveryEvent) => {
    const handle = await ctx.temporal!.client.workflow.signalWithStart('newsletterEventsWorkflow', {
      workflowId: eventsWorkflowIdFor(event.newsletterId),
      taskQueue,
      args: [{ newsletterId: event.newsletterId }],
      signal: 'deliveryEvents',
      signalArgs: [[event]],
    });
    return handle.signaledRunId;
  };
  const signalToHooks = signalOne('bench-hooks');
  try {
    const url = `http://127.0.0.1:${webhookPort}/webhooks/postmark`;
    const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    M.webhooks.bridge = await bounded(
      `webhooks: ${kN(N_WEBHOOKS)} through the bridge`,
      300_000,
      (signal) =>
        handOff('hooks-bridge', events('hooks-bridge'), async (event) => {
          const response = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization },
            body: JSON.stringify({
              RecordType: 'Delivery',
              MessageID: event.messageId,
              Recipient: event.email,
              DeliveredAt: event.occurredAt,
              MessageStream: 'broadcast',
              Metadata: { newsletter_id: event.newsletterId, recipient_id: event.recipientId },
            }),
            signal,
          });
          await response.arrayBuffer();
          return response.status;
        }, signal),
    );
    M.webhooks.oneSignalEach = await bounded(
      `webhooks: ${kN(N_WEBHOOKS)} one signal each`,
      300_000,
      (signal) =>
        handOff('hooks-direct', events('hooks-direct'), async (event) => {
          await signalToHooks(event);
          return 200;
        }, signal),
    );
  } finally {
    await service.stop();
  }
  // A deployment of its own, exporting its spans as a traced one does (OTLP to the backend stand-in): whatever the
  // workflow traces is made in the activation measured.
  const traced = await startService({
    name: 'piled',
    temporal: ctx.temporal!,
    mock: ctx.mock,
    backendUrl: ctx.backend.url,
    workers: 1,
    env: { ...serviceEnv('bench-piled'), OTEL_EXPORTER_OTLP_ENDPOINT: ctx.backend.url },
    cpuProfile: CPU_PROFILE,
  });
  const exportsBefore = ctx.backend.traceExports;
  try {
    M.webhooks.piledUp = await bounded(
      `webhooks: ${kN(N_PILED)} signals piled up while no worker ran`,
      300_000,
      (signal) => pileUp(ctx, traced, events('hooks-piled', N_PILED), signalOne('bench-piled'), signal),
    );
  } finally {
    await traced.stop();
  }
  // Spans are exported in batches every few seconds, and the rest when the service stops: counted once it has.
  const piled = M.webhooks.piledUp;
  if (typeof piled === 'object') piled.traceExports = ctx.backend.traceExports - exportsBefore;
}

/**
 * pileUp: N_PILED one-event signals to one events workflow while no worker runs (as during a
 * worker outage or a deploy), then the worker started: they all reach the workflow in its first
 * activations, which must stay within the workflow isolate's 5 s. Measures the time from the
 * worker's start (and from its readiness) to all counted, the longest workflow task and the
 * failed ones (read from the run's history), and whether the worker is still up.
 */
async function pileUp(
  ctx: Context,
  service: Service,
  items: DeliveryEvent[],
  signalOne: (event: DeliveryEvent) => Promise<string>,
  signal: AbortSignal,
): Promise<PiledUpRun> {
  await service.stopWorkers();
  const runIds = new Set<string>();
  // The first signal that fails stops the others; so does the run's bound (then no worker is started again).
  const sending = new AbortController();
  const stopSending = () => sending.abort();
  signal.addEventListener('abort', stopSending);
  let next = 0;
  try {
    await Promise.all(Array.from({ length: WEBHOOK_CONCURRENCY }, async () => {
      while (next < items.length && !sending.signal.aborted) {
        try {
          runIds.add(await signalOne(items[next++]!));
        } catch (err) {
          sending.abort();
          throw err;
        }
      }
    }));
  } finally {
    signal.removeEventListener('abort', stopSending);
  }
  if (signal.aborted) throw new Error('out of time while signalling');
  const startedAt = performance.now();
  await service.startWorkers();
  const readyAt = performance.now();
  const handle = ctx.temporal!.client.workflow.getHandle(eventsWorkflowIdFor(items[0]!.newsletterId));
  // Queries fail while the workflow's task is retried: asked again (a failed task is counted from the history).
  await until(signal, 50, async () => {
    // A worker that shut down (as one did in a full run on 2026-11-28) counts nothing more: an ERROR, not a TIMEOUT.
    const gone = service.workers.find((w) => w.exitedAs !== undefined);
    if (gone) {
      throw new Error(`${gone.name} exited (${gone.exitedAs}) before the signals were counted; see ${gone.logPath}`);
    }
    const counts = await handle.query(engagementQuery).catch(() => undefined);
    return (counts?.delivered ?? 0) >= items.length || undefined;
  });
  const countedAt = performance.now();
  const tasks = noTasks();
  for (const runId of runIds) {
    addTasks(
      tasks,
      (await ctx.temporal!.client.workflow.getHandle(handle.workflowId, runId).fetchHistory()).events ?? [],
    );
  }
  const workerUp = service.workers.every((w) => w.exitedAs === undefined) &&
    (await Promise.all(service.ops.workers.map((url) => fetch(`${url}/ready`).then((r) => r.ok, () => false))))
      .every(Boolean);
  return {
    n: items.length,
    runs: runIds.size,
    countedAfterStartMs: countedAt - startedAt,
    countedAfterReadyMs: countedAt - readyAt,
    longestTaskMs: tasks.longestMs,
    completedTasks: tasks.completed,
    decidedAgain: tasks.decidedAgain,
    failedTasks: tasks.failures,
    workerUp,
  };
}
