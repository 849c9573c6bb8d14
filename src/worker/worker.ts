/**
 * The Temporal workers: register the workflows and the activities built from their
 * dependencies (providers, circuit breakers, backend client, batch source).
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bundleWorkflowCode,
  type LogLevel,
  type NativeConnection,
  Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import { Context } from '@temporalio/activity';
import { DirectResults, resultsHandoffThroughTemporal } from '../activities/callbacks.ts';
import { createActivities } from '../activities/index.ts';
import { providerQueuesThroughTemporal } from '../activities/rate.ts';
import { createBatchSource, loadDefinitionFromHistory } from '../activities/sources.ts';
import { dataConverter } from '../data-converter.ts';
import { type BackendClient, createBackendClient } from '../backend/client.ts';
import type { Config } from '../config.ts';
import {
  MAX_DRAINED_RATE,
  type ProviderName,
  PROVIDERS,
  providerTaskQueue,
  resultsTaskQueue,
} from '../domain/types.ts';
import type { Logger } from '../logger.ts';
import { CircuitBreaker } from '../providers/circuit-breaker.ts';
import { createProviders } from '../providers/index.ts';
import type { EmailProvider } from '../providers/types.ts';
import { SuppressionCopies } from '../suppression/copies.ts';
import { SuppressionList } from '../suppression/list.ts';
import { lifecycleSinks } from '../telemetry/lifecycle-sink.ts';
import type { DeliveryMetrics } from '../telemetry/metrics.ts';
import { levelOf } from '../telemetry/temporal-runtime.ts';
import { workerTracingOptions, WORKFLOW_INTERCEPTOR_MODULES } from '../telemetry/temporal-tracing.ts';
import type { Tracing } from '../telemetry/tracing.ts';

/** workflowsPath is the workflow bundle entry beside this module (.ts from source, .js from dist). */
export const workflowsPath = fileURLToPath(new URL(`../workflows/index${extname(import.meta.url)}`, import.meta.url));

/** prebuiltBundlePath is where `npm run build` writes the workflow bundle (dist/workflow-bundle.js; see bundle.ts). */
export const prebuiltBundlePath = fileURLToPath(new URL('../../workflow-bundle.js', import.meta.url));

/**
 * workflowCode is the pre-built bundle when this module runs from dist/; from source the
 * worker bundles at start, and webpack's report (several kilobytes) goes to debug, not into
 * every start-up's info log. Bundled with the interceptor modules, as `npm run build` does.
 */
async function workflowCode(logger: Logger): Promise<Pick<WorkerOptions, 'workflowBundle'>> {
  if (extname(import.meta.url) === '.js' && existsSync(prebuiltBundlePath)) {
    return { workflowBundle: { codePath: prebuiltBundlePath } };
  }
  const log = logger.child({ component: 'workflow-bundler' });
  const quiet = {
    log: (level: LogLevel, message: string, meta?: object) =>
      log[level === 'INFO' ? 'debug' : levelOf(level, message)](meta ?? {}, message),
    trace: (message: string, meta?: object) => log.trace(meta ?? {}, message),
    debug: (message: string, meta?: object) => log.debug(meta ?? {}, message),
    info: (message: string, meta?: object) => log.debug(meta ?? {}, message),
    warn: (message: string, meta?: object) => log.warn(meta ?? {}, message), // warnings and errors stay what they are
    error: (message: string, meta?: object) => log.error(meta ?? {}, message),
  };
  const started = Date.now();
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: quiet,
  });
  log.info({ kib: Math.round(workflowBundle.code.length / 1024), ms: Date.now() - started }, 'workflow code bundled');
  return { workflowBundle };
}

/** WorkerDeps are what the worker needs; providers and backend default to those the config describes. */
export interface WorkerDeps {
  config: Config;
  connection: NativeConnection;
  logger: Logger;
  metrics?: DeliveryMetrics;
  providers?: ReadonlyMap<ProviderName, EmailProvider>;
  backend?: BackendClient;
  /** tracing, when given, connects workflow and activity spans to the caller's trace. */
  tracing?: Tracing;
  /** workflowBundle lets tests bundle once per suite instead of once per worker (with WORKFLOW_INTERCEPTOR_MODULES). */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

/** createBreakers builds one circuit breaker per provider, reporting state changes. */
export function createBreakers(
  config: Config,
  logger: Logger,
  metrics?: DeliveryMetrics,
): Map<ProviderName, CircuitBreaker> {
  return new Map(PROVIDERS.map((name) => {
    metrics?.circuitState(name, 'closed');
    return [
      name,
      new CircuitBreaker({
        ...config.providers.circuitBreaker,
        onStateChange: (state) => {
          metrics?.circuitState(name, state);
          logger.warn({ provider: name, circuit: state }, `circuit breaker ${state}`);
        },
      }),
    ];
  }));
}

/**
 * RATE_HEADROOM keeps the queue a little under the account's rate: the server dispatches at
 * an even cadence, and without headroom network jitter puts an 11th request into some
 * provider second at 10/s. (An idle queue starts with a burst of about one second's worth,
 * which the newsletter spends on no-op tasks first: workflows/burst.ts.)
 */
export const RATE_HEADROOM = 0.97;

/** queueRate is the task-queue rate for a provider account's request rate. */
export const queueRate = (requestsPerSecond: number): number => requestsPerSecond * RATE_HEADROOM;

/**
 * PACE_MS is how long after its activity began a request that waited for its dispatch leaves on a
 * paced provider queue (DeliveryDeps.paceMs): above what reading and rendering a page takes, so
 * every request leaves at its slot's distance.
 */
export const PACE_MS = 100;

/** paceFor paces the requests of a queue slow enough to be drained (workflows/burst.ts); faster ones leave at once. */
export const paceFor = (requestsPerSecond: number): number =>
  queueRate(requestsPerSecond) <= MAX_DRAINED_RATE ? PACE_MS : 0;

/** perProvider maps every provider of PROVIDERS to a value. */
const perProvider = <T>(value: (provider: ProviderName) => T): Record<ProviderName, T> =>
  Object.fromEntries(PROVIDERS.map((provider) => [provider, value(provider)])) as Record<ProviderName, T>;

/**
 * RESULTS_POSTS_IN_FLIGHT bounds a worker's results posts: when the backend comes back after an
 * outage, every results workflow's next attempt comes due within one backoff interval.
 */
export const RESULTS_POSTS_IN_FLIGHT = 32;

/** backendWarnings says what is amiss with the backend settings, for the worker to log at start. */
export function backendWarnings(
  config: Pick<Config, 'backend' | 'internalServiceToken' | 'production'>,
): string[] {
  const { url, signingSecrets } = config.backend;
  if (!url) return ['BACKEND_URL is not set: status callbacks are disabled'];
  const warnings: string[] = [];
  if (signingSecrets.length === 0) {
    warnings.push('CALLBACK_SIGNING_SECRET is not set: the backend cannot tell callbacks from forged ones');
  }
  if (!config.internalServiceToken) {
    warnings.push(
      'INTERNAL_SERVICE_TOKEN is not set: callbacks and page reads carry no bearer token (a backend that asks for one refuses them all)',
    );
  }
  const host = new URL(url).hostname;
  const loopback = host === 'localhost' || host.startsWith('127.') || host === '[::1]';
  if (config.production && url.startsWith('http:') && !loopback) {
    warnings.push(
      'BACKEND_URL is plain http: the bearer token and every recipient travel in clear unless a mesh encrypts them',
    );
  }
  return warnings;
}

/** NewsletterWorkers are the Temporal workers of one process: the main task queue, one per provider, and the results queue. */
export class NewsletterWorkers {
  readonly workers: readonly Worker[];

  constructor(workers: Worker[]) {
    this.workers = workers;
  }

  /**
   * run polls every task queue until shutdown. When one worker fails, the others are shut down
   * and drain (their sends in flight finish) before it rejects with that failure: the process
   * closes its connection and exits after it, which would cut them off.
   */
  async run(): Promise<void> {
    const runs = this.workers.map((w) =>
      w.run().catch((err: unknown) => {
        this.shutdown();
        throw err;
      })
    );
    const failed = (await Promise.allSettled(runs)).find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  shutdown(): void {
    for (const w of this.workers) if (w.getState() === 'RUNNING') w.shutdown();
  }

  /** getState is RUNNING only while every worker runs. */
  getState(): ReturnType<Worker['getState']> {
    const states = this.workers.map((w) => w.getState());
    return states.find((state) => state !== 'RUNNING') ?? 'RUNNING';
  }
}

/**
 * checkWorkerConfig throws when the configuration cannot run a worker: main.ts asks before any
 * role starts (a --role=all bridge would otherwise serve, then exit), createWorker again.
 */
export function checkWorkerConfig(config: Config): void {
  // Unsigned, a link edited lets anyone unsubscribe anyone, and a frontend that checks it (contracts/http/unsubscribe.ts)
  // refuses them all, one-click unsubscribe included: in production the links are signed, or nothing is sent.
  if (config.production && !config.unsubscribeSecret) {
    throw new Error(
      'UNSUBSCRIBE_SIGNING_SECRET is required when NODE_ENV=production: refusing to send unsigned unsubscribe links',
    );
  }
}

/**
 * createWorker builds (but does not run) the workers of the newsletter service: the main
 * task queue (workflows, page reads, callbacks), one task queue per provider for its
 * sends, each rate-limited by the Temporal server to the provider account's request rate
 * (the same limit on every worker process: the server enforces it across all of them), and
 * the results queue (results the backend did not take at once).
 */
export async function createWorker(deps: WorkerDeps): Promise<NewsletterWorkers> {
  const { config, logger } = deps;
  checkWorkerConfig(config);
  const providers = deps.providers ?? createProviders(config.providers);
  if (providers.size === 0) {
    throw new Error('no email provider configured: set RESEND_API_KEY and/or POSTMARK_API_KEY');
  }
  if (!providers.has(config.delivery.primaryProvider)) {
    logger.warn(
      { provider: config.delivery.primaryProvider },
      'the primary provider has no API key: every batch will fail over',
    );
  }
  const backend = deps.backend ?? createBackendClient({
    url: config.backend.url,
    token: config.internalServiceToken,
    signingSecrets: config.backend.signingSecrets,
  });
  for (const warning of backendWarnings(config)) logger.warn(warning);
  if (!config.unsubscribeSecret) {
    logger.warn(
      'UNSUBSCRIBE_SIGNING_SECRET is not set: unsubscribe links are unsigned (edited, one unsubscribes anyone)',
    );
  }
  let suppressionCopies: SuppressionCopies | undefined;
  let suppressionList: SuppressionList | undefined;
  /** list is the suppression list through the worker's own client (the first activity that asks hands it over). */
  const list = () => (suppressionList ??= new SuppressionList(Context.current().client, config.temporal.taskQueue));
  const {
    sendBatch,
    drainBurst,
    providerQueue,
    readPages,
    notifyBackend,
    postResults,
    postEvents,
    countLifecycle,
    runningResults,
  } = createActivities({
    providers,
    breakers: createBreakers(config, logger, deps.metrics),
    source: createBatchSource(loadDefinitionFromHistory, backend),
    // One copy of the list per worker, brought up to date through the worker's own client (the
    // first activity that asks hands it over).
    suppressions: () => {
      if (!suppressionCopies) {
        const shards = list();
        suppressionCopies = new SuppressionCopies(
          (shard, since) => shards.changes(shard, since),
          config.suppression.maxAgeMs,
          undefined,
          (shard, how, kept) =>
            logger.error(
              { shard, how, kept },
              'suppression shard lost its history: this worker keeps suppressing the addresses it had (README "Suppression")',
            ),
        );
      }
      return suppressionCopies;
    },
    suppress: (entries) => list().add(entries),
    callbacks: {
      backend,
      logger,
      metrics: deps.metrics,
      handoff: resultsHandoffThroughTemporal(resultsTaskQueue(config.temporal.taskQueue)),
      direct: new DirectResults(config.backend.resultsTimeoutMs),
    },
    logger,
    metrics: deps.metrics,
    ...(config.unsubscribeSecret ? { unsubscribeSecret: config.unsubscribeSecret } : {}),
    queueRates: perProvider((provider) => queueRate(config.providers.requestsPerSecond[provider])),
    providerQueues: providerQueuesThroughTemporal(config.temporal.namespace, config.temporal.taskQueue),
    paceMs: perProvider((provider) => paceFor(config.providers.requestsPerSecond[provider])),
  });
  const tracingOptions = deps.tracing ? workerTracingOptions(deps.tracing) : {};
  // What a bundle does not already hold: the activities' interceptors and their client's.
  const activityTracing = tracingOptions.interceptors
    ? { interceptors: { activity: tracingOptions.interceptors.activity, client: tracingOptions.interceptors.client } }
    : {};
  const common = {
    connection: deps.connection,
    namespace: config.temporal.namespace,
    dataConverter,
    shutdownGraceTime: '30 seconds',
  } as const;
  const code = deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : await workflowCode(logger);
  const main = await Worker.create({
    ...common,
    taskQueue: config.temporal.taskQueue,
    ...code,
    activities: { readPages, notifyBackend, postResults, postEvents, countLifecycle, runningResults, providerQueue },
    ...tracingOptions,
    sinks: { ...tracingOptions.sinks, ...lifecycleSinks(deps.metrics) },
    // A bundle already holds the workflow interceptors (bundled with WORKFLOW_INTERCEPTOR_MODULES).
    ...(code.workflowBundle ? activityTracing : {}),
  });
  const senders = await Promise.all(PROVIDERS.map((provider) =>
    Worker.create({
      ...common,
      taskQueue: providerTaskQueue(config.temporal.taskQueue, provider),
      activities: { sendBatch, drainBurst },
      ...activityTracing,
      // Enforced by the server across every worker of the queue; the same value on each worker.
      maxTaskQueueActivitiesPerSecond: queueRate(config.providers.requestsPerSecond[provider]),
      // Batches in flight are bounded per newsletter by EMAIL_CONCURRENCY_LIMIT; this bounds the process.
      maxConcurrentActivityTaskExecutions: 100,
    })
  ));
  // A worker (and workflow thread) of their own for results workflows; the main worker keeps
  // postResults for those an earlier release started on the main queue.
  const results = await Worker.create({
    ...common,
    taskQueue: resultsTaskQueue(config.temporal.taskQueue),
    ...code,
    activities: { postResults },
    ...tracingOptions,
    ...(code.workflowBundle ? activityTracing : {}),
    // Posts in flight to a backend that has just come back: bounded, not one per owed request.
    maxConcurrentActivityTaskExecutions: RESULTS_POSTS_IN_FLIGHT,
  });
  return new NewsletterWorkers([main, ...senders, results]);
}
