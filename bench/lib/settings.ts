/**
 * What the benchmark runs (BENCH_ONLY, BENCH_SCALE, BENCH_1M_CONCURRENCY...), its sizes
 * and bounds, and the store of every measurement the table and results.json are made of.
 */
import type { FanOutResult } from '../floor-workflow.ts';
import type { Breakdown } from './breakdown.ts';
import type { watch } from './procs.ts';

export const SCENARIOS = ['direct', 'ours', 'floor', 'per-email', 'rate-limited', 'webhooks', '1m'] as const;
export type Scenario = (typeof SCENARIOS)[number];
export const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  .map((s) => s === 'fairness' ? '1m' : s);
for (const s of only) {
  if (!SCENARIOS.includes(s as Scenario)) throw new Error(`BENCH_ONLY: unknown scenario ${s} (${SCENARIOS})`);
}
export const wanted = (s: Scenario) => only.length === 0 || only.includes(s);

/** BENCH_SCALE shrinks every N (e.g. 0.1 for a quick smoke run); the figures then prove nothing. */
export const SCALE = Number(process.env.BENCH_SCALE ?? 1);
export const scaled = (n: number) => Math.max(100, Math.round(n * SCALE));
export const BUDGET_MS = Number(process.env.BENCH_BUDGET_MINUTES ?? 24) * 60_000;
export const DEADLINE = Date.now() + BUDGET_MS;
export const CPU_PROFILE = process.env.BENCH_CPU_PROFILE === '1';
/** WORKER_MEMORY (BENCH_WORKER_MEMORY=lean): the service's processes in the lean memory profile, as README Configuration sets it. */
export const WORKER_MEMORY = process.env.BENCH_WORKER_MEMORY === 'lean' ? 'lean' : 'v8';
/**
 * ADDED_SERVICE_ENV (BENCH_SERVICE_ENV, a JSON object of strings) is added to the service's environment after the
 * memory profile's (a NODE_OPTIONS there replaces lean's) and before the scenario's own variables (task queue, rate,
 * batch size, concurrency: not overridden): one change at a time, e.g. {"MALLOC_ARENA_MAX":"2"}.
 */
export const ADDED_SERVICE_ENV: Record<string, string> = parseServiceEnv(process.env.BENCH_SERVICE_ENV);
function parseServiceEnv(text: string | undefined): Record<string, string> {
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`BENCH_SERVICE_ENV: not JSON (${text})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('BENCH_SERVICE_ENV: must be a JSON object of variable names to strings');
  }
  for (const [name, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new Error(`BENCH_SERVICE_ENV: ${name} must be a string`);
  }
  return value as Record<string, string>;
}
/** memoryEnv is what the memory profile and BENCH_SERVICE_ENV add to every service process's environment (results.json records it). */
export const memoryEnv: Record<string, string> = {
  ...WORKER_MEMORY === 'lean'
    ? {
      WORKER_MEMORY: 'lean',
      NODE_OPTIONS: '--max-semi-space-size=4',
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: '131072',
    }
    : { WORKER_MEMORY: 'v8' },
  ...ADDED_SERVICE_ENV,
};

export const LATENCIES = [200, 20] as const;
export const BATCH = 100;
export const IN_FLIGHT = 8;
export const N_SMALL = scaled(10_000);
export const N_LARGE = scaled(100_000);
/** PER_EMAIL_N: one activity per email; 10,000 at 200 ms would take 250 s at the very least. */
export const PER_EMAIL_N: Record<number, number> = { 20: scaled(10_000), 200: scaled(2_000) };
export const N_1M = scaled(1_000_000);
export const CONCURRENCY_1M = Number(process.env.BENCH_1M_CONCURRENCY ?? 8);
export const N_RATE = scaled(30_000);
export const RATE = 10;
/** RATE_LATENCY_MS is the mock's latency in the rate-limited run. */
export const RATE_LATENCY_MS = 20;
export const N_FAIR = 500;
/** N_WEBHOOKS provider webhooks about one newsletter, WEBHOOK_CONCURRENCY of them at once. */
export const N_WEBHOOKS = scaled(5_000);
export const WEBHOOK_CONCURRENCY = 64;
/** N_PILED one-event signals sent while no worker runs: Temporal's cap on one run's signals, so the most that can pile up. */
export const N_PILED = Math.min(10_000, scaled(10_000));

export const serviceEnv = (taskQueue: string, concurrency = IN_FLIGHT, requestsPerSecond = 10_000) => ({
  ...memoryEnv,
  TEMPORAL_TASK_QUEUE: taskQueue,
  // Config allows at most 10,000; the queue then dispatches 9,700/s: no limit in practice.
  RESEND_REQUESTS_PER_SECOND: String(requestsPerSecond),
  NEWSLETTER_BATCH_SIZE: String(BATCH),
  EMAIL_CONCURRENCY_LIMIT: String(concurrency),
});

export const log = (message: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
export const kN = (n: number) => n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n);

/** Outcome is a measurement, or why there is none. */
export type Outcome<T> = T | 'TIMEOUT' | 'ERROR';

/** key names a run by provider latency and N. */
export const key = (latency: number, n: number) => `${latency}ms-${kN(n)}`;

/** Delivery is what the mock saw of a run, timed from t0. */
export interface Delivery {
  emails: number;
  duplicates: number;
  calls: number;
  byStatus: Record<string, number>;
  toLastEmailMs: number;
}

/** NewsletterRun is one newsletter through the service: times from SendNewsletter's response. */
export interface NewsletterRun extends Delivery {
  n: number;
  newsletterId: string;
  sendNewsletterMs: number;
  toFinalMs: number;
  state: string;
  sent: number;
  processes?: ReturnType<ReturnType<typeof watch>['end']>;
  /** breakdown times the run's provider requests (sendBatch activities) from its history. */
  breakdown?: Breakdown;
}

/** FanOutRun is one fan-out workflow (floor or per-email): times from the start call's answer. */
export interface FanOutRun {
  activities: number;
  toEndMs: number;
  result: FanOutResult;
  delivery?: Delivery;
  breakdown?: Breakdown;
}

/** OneMillionRun is the 1M newsletter, with its history per run. */
export interface OneMillionRun extends NewsletterRun {
  concurrency: number;
  /** emailsOfThis leaves out the small newsletter's emails sent meanwhile. */
  emailsOfThis: number;
  pageRequests: number;
  resultsReported: number;
  workflowId: string;
  /** workerMemory is the worker's own memory figures (/metrics) right after the run, in MB. */
  workerMemory?: Record<string, number>;
  /** workerPeakMemory is the worker's /metrics sample with the highest RSS during the run, in MB. */
  workerPeakMemory?: Record<string, number> | null;
  runs?: Array<{ runId: string; events: number; bytes: number; largestTaskBytes: number }>;
}

/** WebhookRun is n events about one newsletter handed to Temporal, `at` at once, until all were counted. */
export interface WebhookRun {
  n: number;
  at: number;
  /** handedMs is until the last hand-off answered; countedMs until the events workflow counted all n. */
  handedMs: number;
  countedMs: number;
  statuses?: Record<string, number>;
  /** queryFailures counts the count queries that failed while waiting (asked again: the workflow's task was retried). */
  queryFailures?: number;
}

/** PiledUpRun is n one-event signals sent while no worker ran, counted once the worker was started again. */
export interface PiledUpRun {
  n: number;
  /** runs of the events workflow the signals reached (a run continued as new while they arrived: more than one). */
  runs: number;
  /** countedAfterStartMs is from the worker's start (a new process) to all n counted; countedAfterReadyMs from its readiness. */
  countedAfterStartMs: number;
  countedAfterReadyMs: number;
  /** longestTaskMs is the events workflow's longest completed workflow task (started → completed, from the history). */
  longestTaskMs: number;
  completedTasks: number;
  /** decidedAgain counts the tasks the server failed as UnhandledCommand: events came while one closed the run (no fault). */
  decidedAgain: number;
  /** failedTasks are its other workflow tasks failed or timed out, with how long each ran and why (bench/lib/tasks.ts). */
  failedTasks: string[];
  /** workerUp: every worker process still running and ready once all were counted. */
  workerUp: boolean;
  /** traceExports: OTLP trace exports the backend stand-in received meanwhile (the deployment traces). */
  traceExports?: number;
}

/** M holds every measurement, keyed by scenario and run; results.json gets it whole. */
export const M = {
  direct: {} as Record<string, Outcome<Delivery & { n: number; elapsedMs: number; errors: number }>>,
  ours: {} as Record<string, Outcome<NewsletterRun>>,
  floor: {} as Record<string, Outcome<FanOutRun>>,
  /** floorMatched is the floor without eager activity dispatch. */
  floorMatched: {} as Record<string, Outcome<FanOutRun>>,
  perEmail: {} as Record<string, Outcome<FanOutRun>>,
  rateLimited: undefined as
    | Outcome<
      NewsletterRun & {
        workers: number;
        throttledInFirstSecond: number;
        throttledLater: number;
        /** throttledAtMs: when (ms after the first call) the first 50 429s came. */
        throttledAtMs: number[];
      }
    >
    | undefined,
  oneMillion: undefined as Outcome<OneMillionRun> | undefined,
  /** webhooks: through the bridge's endpoint, and one signal per event straight from a client. */
  webhooks: {} as Record<'bridge' | 'oneSignalEach', Outcome<WebhookRun>> & { piledUp?: Outcome<PiledUpRun> },
  fairness: { alone: undefined as Outcome<number> | undefined, during: undefined as Outcome<number> | undefined },
  /** idleRssMb is each long-lived process's resident memory once started, before any work. */
  idleRssMb: {} as Record<string, number>,
};
