/**
 * What a CLI command ends with: exit codes scripts can use, and a status in one line.
 */
import { CommanderError } from 'commander';
import { RpcError } from '@protobuf-ts/runtime-rpc';
import { NewsletterState, type NewsletterStatus } from '../../contracts/index.ts';

/** EXIT are the exit codes: the outcome of a newsletter, or why there is none. */
export const EXIT = {
  /** the command did what it was asked; for status/watch: the newsletter completed (or is still on its way). */
  ok: 0,
  /** the newsletter completed, some recipients failed. */
  completedWithFailures: 1,
  /** the newsletter (or workflow) was cancelled or failed, or the service answered an error of its own. */
  cancelledOrFailed: 2,
  /** usage: bad flags or input, or a request the service refused as asked (invalid, unknown id, wrong state). */
  usage: 3,
  /** the service could not be reached, did not answer in time, or refused the token. */
  unreachable: 4,
} as const;

const USAGE_CODES = new Set(['INVALID_ARGUMENT', 'NOT_FOUND', 'FAILED_PRECONDITION', 'ALREADY_EXISTS', 'OUT_OF_RANGE']);
const UNREACHABLE_CODES = new Set([
  'UNAVAILABLE',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'DEADLINE_EXCEEDED',
  'RESOURCE_EXHAUSTED',
]);

/** exitForError maps a failed call to its exit code. */
export function exitForError(err: unknown): number {
  if (err instanceof UsageError || err instanceof CommanderError) return EXIT.usage;
  if (err instanceof RpcError) {
    if (USAGE_CODES.has(err.code)) return EXIT.usage;
    if (UNREACHABLE_CODES.has(err.code)) return EXIT.unreachable;
  }
  return EXIT.cancelledOrFailed;
}

/** exitForState maps a newsletter's state to its exit code (a newsletter still on its way is 0). */
export function exitForState(state: NewsletterState): number {
  if (state === NewsletterState.COMPLETED_WITH_FAILURES) return EXIT.completedWithFailures;
  if (state === NewsletterState.CANCELLED || state === NewsletterState.FAILED) return EXIT.cancelledOrFailed;
  return EXIT.ok;
}

/** UsageError is bad input found before any call (a file that does not parse, a malformed flag). */
export class UsageError extends Error {}

/**
 * describeStatus is a status in one line: state, counts, reason, and with owed the callbacks the backend
 * has not taken yet (for `status`: the answer to a change or the end of a watch would nearly always name
 * the event it has just queued).
 */
export function describeStatus(status: NewsletterStatus, options: { owed?: boolean } = {}): string {
  const done = status.sent + status.failed + status.skipped;
  const reason = status.reason ? ` (${status.reason})` : '';
  return `${status.newsletterId}: ${NewsletterState[status.state]}, ${done} of ${status.totalRecipients} ` +
    `(sent ${status.sent}, failed ${status.failed}, skipped ${status.skipped})${reason}${
      options.owed ? owed(status) : ''
    }`;
}

/** owed names the callbacks the backend has not taken yet: lifecycle events by name, results by count. */
function owed(status: NewsletterStatus): string {
  if (status.callbacksOwed === 0) return '';
  const prefix = `${status.newsletterId}:`;
  const parts = status.owedEvents.map((id) => id.startsWith(prefix) ? id.slice(prefix.length) : id);
  if (status.owedResults > 0) {
    parts.push(`results of ${status.owedResults} request${status.owedResults === 1 ? '' : 's'}`);
  }
  // A bridge of an earlier version counts them without naming them.
  return `; not yet taken by the backend: ${parts.length > 0 ? parts.join(', ') : `${status.callbacksOwed} callbacks`}`;
}

/** Io is where the CLI writes and what it runs in (a test passes its own). */
export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}
