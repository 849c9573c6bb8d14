/**
 * Logger: structured JSON logs (pino). Secrets never reach a log line: the
 * redaction list covers every field that may carry a key or token.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** createLogger builds the root logger; children add newsletter_id, batch, provider. */
export function createLogger(level: string, name = 'authentik-temporal-server'): Logger {
  return pino({
    name,
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['apiKey', '*.apiKey', 'token', '*.token', 'authorization', '*.authorization', 'headers.authorization'],
      censor: '[redacted]',
    },
  });
}
