/**
 * The Temporal worker: registers the workflows and the activities built from their
 * dependencies (providers, circuit breakers, backend client).
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { type BackendClient, createBackendClient } from '../backend/client.ts';
import type { Config } from '../config.ts';
import { type ProviderName, PROVIDERS } from '../domain/types.ts';
import type { Logger } from '../logger.ts';
import { CircuitBreaker } from '../providers/circuit-breaker.ts';
import { createProviders } from '../providers/index.ts';
import type { EmailProvider } from '../providers/types.ts';
import type { DeliveryMetrics } from '../telemetry/metrics.ts';
import { workerTracingOptions } from '../telemetry/temporal-tracing.ts';
import type { Tracing } from '../telemetry/tracing.ts';

/** workflowsPath is the workflow bundle entry beside this module (.ts from source, .js from dist). */
export const workflowsPath = fileURLToPath(new URL(`../workflows/index${extname(import.meta.url)}`, import.meta.url));

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

/** createWorker builds (but does not run) the newsletter worker. */
export async function createWorker(deps: WorkerDeps): Promise<Worker> {
  const { config, logger } = deps;
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
  const backend = deps.backend ?? createBackendClient({ url: config.backend.url, token: config.internalServiceToken });
  if (!backend.enabled) logger.warn('BACKEND_URL is not set: status callbacks are disabled');
  const activities = createActivities({
    providers,
    breakers: createBreakers(config, logger, deps.metrics),
    backend,
    logger,
    metrics: deps.metrics,
  });
  return await Worker.create({
    connection: deps.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath }),
    activities,
    ...(deps.tracing ? workerTracingOptions(deps.tracing) : {}),
    // Batches in flight are bounded per newsletter by EMAIL_CONCURRENCY_LIMIT; this bounds the process.
    maxConcurrentActivityTaskExecutions: 100,
    shutdownGraceTime: '30 seconds',
  });
}
