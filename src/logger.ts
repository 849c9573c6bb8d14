/**
 * Logger: structured JSON logs (pino). Secrets never reach a log line: the
 * redaction list covers every field that may carry a key or token.
 */
import { trace } from '@opentelemetry/api';
import process from 'node:process';
import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * prettyStream writes each entry as one readable line (time, level, message, then the
 * fields as compact JSON), for a person at a terminal; colours only when stdout is one (never into a file).
 */
export function prettyStream(
  colorize = process.stdout.isTTY === true,
  destination?: NodeJS.WritableStream,
): pino.DestinationStream {
  return pretty({
    colorize,
    sync: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service,name',
    ...(destination ? { destination } : {}),
  });
}

/** createLogger builds the root logger; children add newsletter_id, batch, provider. */
export function createLogger(
  level: string,
  name = 'authentik-temporal-server',
  destination?: pino.DestinationStream,
): Logger {
  return pino({
    name,
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Every line written inside a span carries its trace: one newsletter, one trace id to search.
    mixin() {
      const span = trace.getActiveSpan()?.spanContext();
      return span && !/^0+$/.test(span.traceId) ? { trace_id: span.traceId, span_id: span.spanId } : {};
    },
    redact: {
      paths: [
        'apiKey',
        '*.apiKey',
        'token',
        '*.token',
        'authorization',
        '*.authorization',
        'headers.authorization',
        '*.headers.authorization',
        'internalServiceToken',
        '*.internalServiceToken',
      ],
      censor: '[redacted]',
    },
  }, destination ?? pino.destination(1));
}
