/**
 * How the scenarios measure: bounded runs (TIMEOUT instead of a hang), a newsletter sent
 * through the bridge and followed to its final status, a fan-out workflow followed to
 * its end, and what the mock provider received.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { Timestamp } from '../../contracts/gen/google/protobuf/timestamp.ts';
import type { MockStats } from '../../mock-providers/types.ts';
import { workflowIdFor } from '../../src/domain/types.ts';
import { auth, newsletterRequest, recipients } from '../../test/support/fixtures.ts';
import { FINAL_STATES } from '../../test/support/grpc.ts';
import type { FanOutInput, FanOutResult } from '../floor-workflow.ts';
import type { BenchBackend } from './backend.ts';
import { breakdown } from './breakdown.ts';
import { rssMb, watch } from './procs.ts';
import { DEADLINE, type Delivery, type FanOutRun, log, M, type NewsletterRun, type Outcome } from './settings.ts';
import type { Mock, Service, Temporal } from './stack.ts';

/** Context is what every scenario shares: the mock providers, the backend and the current dev server. */
export interface Context {
  mock: Mock;
  backend: BenchBackend;
  temporal?: Temporal;
}

/** FLOOR_QUEUE is the task queue of bench/floor-worker.ts. */
export const FLOOR_QUEUE = 'bench-floor';

const TIMED_OUT = Symbol('timeout');

/** bounded runs fn with an upper bound (clamped to the run's budget); on TIMEOUT fn's signal aborts. */
export async function bounded<T>(
  label: string,
  ms: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<Outcome<T>> {
  const limit = Math.min(ms, DEADLINE - Date.now());
  if (limit <= 0) {
    log(`${label}: TIMEOUT (benchmark budget used up)`);
    return 'TIMEOUT';
  }
  const aborter = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const work = fn(aborter.signal);
  work.catch(() => {});
  log(`${label}: start (bound ${Math.round(limit / 1000)} s)`);
  try {
    const value = await Promise.race([
      work,
      new Promise<typeof TIMED_OUT>((resolve) => timer = setTimeout(() => resolve(TIMED_OUT), limit)),
    ]);
    if (value === TIMED_OUT) {
      log(`${label}: TIMEOUT after ${Math.round(limit / 1000)} s`);
      return 'TIMEOUT';
    }
    return value;
  } catch (err) {
    log(`${label}: ERROR ${(err as Error).stack ?? err}`);
    return 'ERROR';
  } finally {
    clearTimeout(timer);
    aborter.abort();
  }
}

/** until polls fn every everyMs until it returns a value, or the signal aborts. */
export async function until<T>(signal: AbortSignal, everyMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    signal.throwIfAborted();
    const value = await fn();
    if (value !== undefined) return value;
    await sleep(everyMs, undefined, { signal });
  }
}

/** abortable rejects when signal aborts before promise settles. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    promise.then(resolve, reject);
  });
}

export async function delivery(mock: Mock, t0: number): Promise<Delivery> {
  const stats: MockStats = await mock.control.stats('resend');
  if (!stats.lastReceivedAt) throw new Error('the mock received no email: nothing to time');
  return {
    emails: stats.emails,
    duplicates: stats.emails - stats.uniqueRecipients,
    calls: stats.calls,
    byStatus: stats.byStatus,
    toLastEmailMs: Date.parse(stats.lastReceivedAt) - t0,
  };
}

export const fromList = (listId: string) => ({
  recipientSource: { source: { oneofKind: 'backendList' as const, backendList: { listId } } },
});

/** sendNewsletter starts a newsletter through the bridge; resolves with t0, the time of the response. */
export async function sendNewsletter(
  service: Service,
  id: string,
  source: { inline: ReturnType<typeof recipients> } | { listId: string },
): Promise<{ t0: number; sendNewsletterMs: number }> {
  const request = 'inline' in source
    ? newsletterRequest(id, source.inline)
    : newsletterRequest(id, [], fromList(source.listId));
  const before = Date.now();
  const { response } = await service.clients.newsletters.sendNewsletter(request, auth);
  if (response.alreadyExists) throw new Error(`${id} already existed`);
  const t0 = Date.now();
  return { t0, sendNewsletterMs: t0 - before };
}

/** finalStatus polls until the newsletter's state is final; toFinalMs uses the status's end_time. */
export async function finalStatus(
  service: Service,
  id: string,
  t0: number,
  signal: AbortSignal,
  everyMs: number,
  onStatus?: (sent: number) => void,
) {
  const status = await until(signal, everyMs, async () => {
    const { response } = await service.clients.newsletters.getNewsletterStatus({ newsletterId: id }, auth);
    const s = response.status!;
    onStatus?.(s.sent);
    return FINAL_STATES.includes(s.state) ? s : undefined;
  });
  const end = status.endTime ? Timestamp.toDate(status.endTime).getTime() : Date.now();
  return { status, toFinalMs: end - t0, state: NewsletterState[status.state] };
}

/** newsletterRun sends one newsletter alone on the mock and measures it. */
export async function newsletterRun(
  ctx: Context,
  service: Service,
  label: string,
  source: { inline: ReturnType<typeof recipients> } | { listId: string },
  n: number,
  signal: AbortSignal,
): Promise<NewsletterRun> {
  const id = `${label}-${randomUUID().slice(0, 8)}`;
  const w = watch(processes(ctx, service));
  try {
    const { t0, sendNewsletterMs } = await sendNewsletter(service, id, source);
    signal.addEventListener('abort', () => void terminate(ctx.temporal!, workflowIdFor(id)));
    const { status, toFinalMs, state } = await finalStatus(service, id, t0, signal, n > 20_000 ? 1_000 : 100);
    return {
      n,
      newsletterId: id,
      sendNewsletterMs,
      toFinalMs,
      state,
      sent: status.sent,
      ...await delivery(ctx.mock, t0),
      processes: w.end(),
      breakdown: await breakdown(ctx.temporal!.client, workflowIdFor(id), 'sendBatch'),
    };
  } finally {
    w.end();
  }
}

export function processes(ctx: Context, service?: Service): Record<string, number> {
  return {
    ...(service ? { bridge: service.bridge.pid } : {}),
    ...Object.fromEntries((service?.workers ?? []).map((w, i) => [i === 0 ? 'worker' : `worker${i + 1}`, w.pid])),
    mock: ctx.mock.child.pid,
    ...(ctx.temporal ? { temporal: ctx.temporal.child.pid } : {}),
  };
}

export async function terminate(temporal: Temporal, workflowId: string): Promise<void> {
  await temporal.client.workflow.getHandle(workflowId).terminate('benchmark bound reached').catch(() => {});
}

export async function fanOut(
  ctx: Context,
  input: Omit<FanOutInput, 'next' | 'failed'>,
  signal: AbortSignal,
): Promise<FanOutRun> {
  const temporal = ctx.temporal!;
  const workflowId = `bench-${input.kind}-${randomUUID().slice(0, 8)}`;
  const handle = await temporal.client.workflow.start('fanOutWorkflow', {
    taskQueue: FLOOR_QUEUE,
    workflowId,
    args: [{ ...input, next: 0, failed: 0 }],
  });
  const t0 = Date.now();
  signal.addEventListener('abort', () => void terminate(temporal, workflowId));
  const result = await abortable(handle.result() as Promise<FanOutResult>, signal);
  const closeTime = (await temporal.client.workflow.getHandle(workflowId).describe()).closeTime;
  return {
    activities: input.total,
    toEndMs: (closeTime?.getTime() ?? Date.now()) - t0,
    result,
    breakdown: await breakdown(temporal.client, workflowId, input.kind === 'noop' ? 'noop' : 'sendOne'),
    ...(input.kind === 'email' ? { delivery: await delivery(ctx.mock, t0) } : {}),
  };
}

/**
 * warmUp records the service's idle memory, then sends two small newsletters (inline and
 * from a backend list) so that no measured run pays for the first workflow, the first
 * connections or the first compilations.
 */
export async function warmUp(ctx: Context, service: Service, name: string): Promise<void> {
  M.idleRssMb[`${name}-bridge`] = rssMb(service.bridge.pid);
  service.workers.forEach((w, i) => M.idleRssMb[`${name}-worker${i + 1}`] = rssMb(w.pid));
  await ctx.mock.setup(0);
  ctx.backend.setList(`warm-${name}`, 200, `warm-${name}-`);
  const outcome = await bounded(`${name}: warm-up`, 60_000, async (signal) => {
    await useSuppressionList(service);
    for (const source of [{ inline: recipients(200, `warm-${name}-i`) }, { listId: `warm-${name}` }]) {
      const id = `warm-${name}-${randomUUID().slice(0, 8)}`;
      const { t0 } = await sendNewsletter(service, id, source);
      await finalStatus(service, id, t0, signal, 100);
    }
  });
  if (outcome === 'TIMEOUT' || outcome === 'ERROR') throw new Error(`${name}: the warm-up newsletters did not finish`);
}

/** SUPPRESSED are addresses no scenario sends to, about sixteen in each shard of the suppression list. */
const SUPPRESSED = Array.from({ length: 256 }, (_, i) => `suppressed-${i}@bench.example`);

/**
 * useSuppressionList puts SUPPRESSED on the deployment's suppression list, as in production
 * (bounces fill it): every shard workflow exists, so each send's check reads real shards, not
 * "no such workflow" answers.
 */
export async function useSuppressionList(service: Service): Promise<void> {
  await service.clients.newsletters.addSuppression({ emails: SUPPRESSED, detail: 'bench' }, auth);
}

/** heapFigures reads a role's memory figures from its /metrics (prom-client's process and heap gauges), in MB. */
export async function heapFigures(opsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const wanted = {
    rss: 'process_resident_memory_bytes',
    heapUsed: 'nodejs_heap_size_used_bytes',
    heapTotal: 'nodejs_heap_size_total_bytes',
    external: 'nodejs_external_memory_bytes',
  };
  return Object.fromEntries(
    Object.entries(wanted).map(([name, metric]) => {
      const match = new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text);
      return [name, match ? Math.round(Number(match[1]) / 2 ** 20) : NaN];
    }),
  );
}

/**
 * sampleMemory polls a role's heapFigures every 2 s and keeps the sample with the highest
 * RSS, so the table can say how much of the peak is V8's heap, how much external (Buffers)
 * and how much neither (native: the Core SDK, the workflow thread's isolate).
 */
export function sampleMemory(opsUrl: string): { end(): Promise<Record<string, number> | null> } {
  let peak: Record<string, number> | null = null;
  const sample = async () => {
    try {
      const figures = await heapFigures(opsUrl);
      if (!peak || figures['rss']! > peak['rss']!) peak = figures;
    } catch {
      // A sample missed while the worker is busy changes nothing.
    }
  };
  const timer = setInterval(() => void sample(), 2_000);
  timer.unref();
  return {
    async end() {
      clearInterval(timer);
      await sample();
      return peak;
    },
  };
}
