/**
 * Routes the Temporal SDK's own logs (worker, workflow `log`, Core) into the
 * service's structured logger. Must run before any connection or worker exists.
 */
import { DefaultLogger, type LogLevel, Runtime, type RuntimeOptions } from '@temporalio/worker';
import type { Logger } from '../logger.ts';
import { maskAddresses, maskedError } from '../domain/addresses.ts';

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

/** errorFields is an error as a log line shows it: type, message, its cause's message, stack (maskedError). */
function errorFields(err: Error): Record<string, string> {
  const { type, message, cause, stack } = maskedError(err);
  return { type, message, ...(cause === undefined ? {} : { cause }), stack };
}

/** SdkLogEntry is one of the Temporal SDK's log entries. */
export interface SdkLogEntry {
  level: LogLevel;
  message: string;
  meta?: Record<string, unknown>;
}

/** forwardSdkLogs writes the SDK's entries to log, at our levels, an error as errorFields. */
export function forwardSdkLogs(log: Logger): (entry: SdkLogEntry) => void {
  return ({ level, message, meta }) => {
    const { error, ...rest } = meta ?? {};
    // Core's own lines (at debug and trace) quote commands and small payloads whole: text may name a recipient.
    const text = Object.fromEntries(
      Object.entries(error instanceof Error ? rest : (meta ?? {})).map((
        [key, value],
      ) => [key, typeof value === 'string' ? maskAddresses(value) : value]),
    );
    // Under `error`, as the SDK names it: pino would take an object under `err` for an error of its own.
    const fields = error instanceof Error ? { ...text, error: errorFields(error) } : text;
    log[levelOf(level, message)](fields, maskAddresses(message));
  };
}

/**
 * coreLevel is what Temporal Core logs at a LOG_LEVEL: debug and trace reach into it (a workflow
 * task's replay, a poll); otherwise Core's own WARN, or ERROR when only errors are wanted (its
 * info lines would add little to ours at info).
 */
export function coreLevel(level: string): LogLevel {
  if (level === 'trace' || level === 'debug') return TEMPORAL_LEVEL[level]!;
  return level === 'error' || level === 'fatal' || level === 'silent' ? 'ERROR' : 'WARN';
}

/**
 * temporalRuntimeOptions are the process-wide Temporal runtime's: our logger for the SDK's
 * entries and for Core's (forwarded: without it Core prints its own text lines to the console,
 * outside LOG_LEVEL and the JSON logs) and, given metricsAddress (host:port), Core's Prometheus
 * endpoint with Prometheus naming (`_total` counters, seconds) for the worker's /metrics to include.
 */
export function temporalRuntimeOptions(logger: Logger, level: string, metricsAddress?: string): RuntimeOptions {
  const log = logger.child({ component: 'temporal' });
  const metrics = metricsAddress
    ? {
      prometheus: {
        bindAddress: metricsAddress,
        countersTotalSuffix: true,
        unitSuffix: true,
        useSecondsForDurations: true,
      },
    }
    : undefined;
  return {
    // main.ts owns the signals (SIGINT, SIGTERM): by default the runtime would also stop every
    // worker on SIGQUIT or SIGUSR2 (a heap snapshot's signal) and leave the process up, idle.
    shutdownSignals: [],
    telemetryOptions: { logging: { forward: {}, filter: { core: coreLevel(level) } }, ...(metrics ? { metrics } : {}) },
    logger: new DefaultLogger(TEMPORAL_LEVEL[level] ?? 'INFO', forwardSdkLogs(log)),
  };
}

/** installTemporalRuntime installs the process-wide Temporal runtime (temporalRuntimeOptions); before any connection or worker exists. */
export function installTemporalRuntime(logger: Logger, level: string, metricsAddress?: string): void {
  Runtime.install(temporalRuntimeOptions(logger, level, metricsAddress));
}
