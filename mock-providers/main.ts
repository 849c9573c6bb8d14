/**
 * Standalone mock providers for `make dev`, `make mock-providers` and containers.
 * Reads MOCK_HOST (127.0.0.1), MOCK_RESEND_PORT (4010), MOCK_POSTMARK_PORT (4011) and
 * MOCK_KEEP_BODIES (true; `false` keeps only provider, id, recipients and time of each email).
 */

import console from 'node:console';
import process from 'node:process';
import { startMockProviders } from './server.ts';

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new RangeError(`${name} must be a port number (0–65535), got '${raw}'`);
  }
  return value;
}

function keepBodies(raw: string | undefined): boolean {
  const value = raw?.trim().toLowerCase();
  if (value === undefined || value === '' || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new RangeError(`MOCK_KEEP_BODIES must be true or false, got '${raw}'`);
}

const mock = await startMockProviders({
  host: process.env['MOCK_HOST'] || '127.0.0.1',
  resendPort: port('MOCK_RESEND_PORT', 4010),
  postmarkPort: port('MOCK_POSTMARK_PORT', 4011),
  keepBodies: keepBodies(process.env['MOCK_KEEP_BODIES']),
});

console.log(`mock resend   listening on ${mock.resendUrl}   (inspect: ${mock.resendUrl}/__mock/emails)`);
console.log(`mock postmark listening on ${mock.postmarkUrl}   (inspect: ${mock.postmarkUrl}/__mock/emails)`);

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  console.log(`mock providers: ${signal} received, closing`);
  mock.close().then(
    () => {
      process.exitCode = 0;
    },
    (error: unknown) => {
      console.error('mock providers: close failed', error);
      process.exitCode = 1;
    },
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
