/**
 * Routes the Temporal SDK's own logs (worker, workflow `log`, Core) into the
 * service's structured logger. Must run before any connection or worker exists.
 */
import { DefaultLogger, type LogLevel, Runtime } from '@temporalio/worker';
import type { Logger } from '../logger.ts';

const TEMPORAL_LEVEL: Record<string, LogLevel> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
  silent: 'ERROR',
};

/**
 * EXPECTED_AT_START are the SDK's start-up notes about this service's own layout — the
 * provider task queues run activities only, and nothing uses Nexus — logged at debug: at
 * WARN they would greet every start of a healthy worker, three times.
 */
const EXPECTED_AT_START = new Set([
  'No workflows registered, not polling for workflow tasks',
  'No Nexus services registered, not polling for Nexus tasks',
]);

/** levelOf is the pino level for one of the SDK's log entries. */
export function levelOf(entryLevel: LogLevel, message: string): 'trace' | 'debug' | 'info' | 'warn' | 'error' {
  if (EXPECTED_AT_START.has(message)) return 'debug';
  return entryLevel === 'TRACE'
    ? 'trace'
    : entryLevel === 'DEBUG'
    ? 'debug'
    : entryLevel === 'INFO'
    ? 'info'
    : entryLevel === 'WARN'
    ? 'warn'
    : 'error';
}

/**
 * installTemporalRuntime installs the process-wide Temporal runtime with our logger and,
 * given metricsAddress (host:port), Core's Prometheus endpoint with Prometheus naming
 * (`_total` counters, seconds) for the worker's /metrics to include.
 */
export function installTemporalRuntime(logger: Logger, level: string, metricsAddress?: string): void {
  const log = logger.child({ component: 'temporal' });
  Runtime.install({
    // main.ts owns the signals (SIGINT, SIGTERM): by default the runtime would also stop every
    // worker on SIGQUIT or SIGUSR2 (a heap snapshot's signal) and leave the process up, idle.
    shutdownSignals: [],
    ...(metricsAddress
      ? {
        telemetryOptions: {
          metrics: {
            prometheus: {
              bindAddress: metricsAddress,
              countersTotalSuffix: true,
              unitSuffix: true,
              useSecondsForDurations: true,
            },
          },
        },
      }
      : {}),
    logger: new DefaultLogger(TEMPORAL_LEVEL[level] ?? 'INFO', ({ level: entryLevel, message, meta }) => {
      log[levelOf(entryLevel, message)](meta ?? {}, message);
    }),
  });
}
