/**
 * The bridge's error vocabulary and its one mapping to gRPC status codes. Handlers
 * throw; the edge (server.ts) calls toRpcStatus once. Unknown errors become INTERNAL
 * with a generic message: the original is logged, never sent to the caller.
 */
import { ShardClosedError, ShardFullError } from '../suppression/list.ts';
import { isGrpcServiceError, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { type ServiceError as GrpcServiceError, status as GrpcStatus } from '@grpc/grpc-js';

/** InvalidArgumentError is thrown when a request field is invalid; its message names the field and why. */
export class InvalidArgumentError extends Error {
  readonly violations: readonly string[];
  constructor(violations: string[]) {
    super(violations.join('; '));
    this.name = 'InvalidArgumentError';
    this.violations = violations;
  }
}

/** NotFoundError is thrown when the named newsletter or workflow does not exist. */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** FailedPreconditionError is thrown when the request is valid but the newsletter's state refuses it. */
export class FailedPreconditionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FailedPreconditionError';
  }
}

/** UnauthenticatedError is thrown when the bearer token is missing or wrong. */
export class UnauthenticatedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnauthenticatedError';
  }
}

/** TooManyStreamsError refuses a stream beyond what one caller may hold open (WATCH_MAX_STREAMS_PER_CALLER). */
export class TooManyStreamsError extends Error {
  constructor(method: string, max: number) {
    super(`${method}: at most ${max} streams per client address are open at once; close one first`);
    this.name = 'TooManyStreamsError';
  }
}

/**
 * StreamLifetimeError ends a stream that reached its lifetime (WATCH_MAX_LIFETIME). Like
 * Pub/Sub's StreamingPull, the status is UNAVAILABLE, which clients already retry: open a
 * new stream to go on.
 */
export class StreamLifetimeError extends Error {
  constructor(method: string, lifetimeMs: number) {
    super(`${method}: streams last at most ${lifetimeMs / 1000} s; open a new one to keep watching`);
    this.name = 'StreamLifetimeError';
  }
}

/**
 * ShuttingDownError ends the streams still open when the bridge begins to shut down: they would
 * last past any drain. UNAVAILABLE, which clients retry: the next stream reaches a bridge that serves.
 */
export class ShuttingDownError extends Error {
  constructor(method: string) {
    super(`${method}: the bridge is shutting down; open a new stream to keep watching`);
    this.name = 'ShuttingDownError';
  }
}

/** RpcStatusCode is the name of a gRPC status code, as protobuf-ts's RpcError and ServerCallContext take it. */
export type RpcStatusCode = keyof typeof GrpcStatus;

/**
 * MAX_DETAIL_CHARS bounds what a status message says: it travels in the HTTP/2 trailers, and
 * one over their size (an error naming a 100 KB tag key) resets the caller's whole connection.
 */
export const MAX_DETAIL_CHARS = 1_024;

/**
 * toRpcStatus maps any error to the gRPC status the caller sees; internal is true when the real
 * cause must stay in the logs. temporalAnswers is what the bridge's last health check of Temporal
 * found: a deadline that passes while Temporal does not answer at all is UNAVAILABLE (retry
 * later), not a slow answer.
 */
export function toRpcStatus(
  err: unknown,
  options: { temporalAnswers?: boolean } = {},
): { code: RpcStatusCode; detail: string; internal: boolean } {
  const status = statusOf(err, options);
  const { detail } = status;
  const short = detail.length > MAX_DETAIL_CHARS ? `${detail.slice(0, MAX_DETAIL_CHARS - 1)}…` : detail;
  return { ...status, detail: wellFormed(short) };
}

/**
 * wellFormed replaces half a character (a lone UTF-16 surrogate: cut at the length limit, or a
 * caller's own, echoed) with U+FFFD: grpc-js URI-encodes the message and throws on one, in a
 * callback where nothing catches it.
 */
function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

function statusOf(
  err: unknown,
  { temporalAnswers = true }: { temporalAnswers?: boolean },
): { code: RpcStatusCode; detail: string; internal: boolean } {
  if (err instanceof InvalidArgumentError) return { code: 'INVALID_ARGUMENT', detail: err.message, internal: false };
  if (err instanceof NotFoundError) return { code: 'NOT_FOUND', detail: err.message, internal: false };
  if (err instanceof UnauthenticatedError) return { code: 'UNAUTHENTICATED', detail: err.message, internal: false };
  if (err instanceof FailedPreconditionError || err instanceof ShardClosedError) {
    return { code: 'FAILED_PRECONDITION', detail: err.message, internal: false };
  }
  if (err instanceof WorkflowNotFoundError) {
    return { code: 'NOT_FOUND', detail: `workflow ${err.workflowId} not found`, internal: false };
  }
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    return { code: 'ALREADY_EXISTS', detail: `workflow ${err.workflowId} already exists`, internal: false };
  }
  if (err instanceof TooManyStreamsError || err instanceof ShardFullError) {
    return { code: 'RESOURCE_EXHAUSTED', detail: err.message, internal: false };
  }
  if (err instanceof StreamLifetimeError) return { code: 'UNAVAILABLE', detail: err.message, internal: false };
  if (err instanceof ShuttingDownError) return { code: 'UNAVAILABLE', detail: err.message, internal: false };
  const grpcCode = grpcErrorOf(err)?.code;
  // The caller went away: the Temporal calls made for it were cancelled (limits.ts forCaller).
  if (grpcCode === GrpcStatus.CANCELLED) {
    return { code: 'CANCELLED', detail: 'cancelled by the caller', internal: false };
  }
  const unreachable = grpcCode === GrpcStatus.UNAVAILABLE || isConnectionError(err) ||
    (grpcCode === GrpcStatus.DEADLINE_EXCEEDED && !temporalAnswers);
  if (unreachable) {
    return { code: 'UNAVAILABLE', detail: 'Temporal is unreachable; retry later', internal: true };
  }
  if (grpcCode === GrpcStatus.DEADLINE_EXCEEDED) {
    return { code: 'DEADLINE_EXCEEDED', detail: 'Temporal did not answer in time', internal: true };
  }
  // Temporal over its limits (a namespace's rate limit, too many updates in flight): passes.
  if (grpcCode === GrpcStatus.RESOURCE_EXHAUSTED) {
    return { code: 'UNAVAILABLE', detail: 'Temporal is over its limits; retry later', internal: true };
  }
  // The workflow's last workflow task failed or timed out (a busy or restarting worker, or a bug): Temporal
  // answers no query or update until a worker completes the next attempt. Passes, or the worker logs say why.
  if (
    grpcCode === GrpcStatus.FAILED_PRECONDITION &&
    /workflow task in failed state/i.test(grpcErrorOf(err)!.details ?? '')
  ) {
    return {
      code: 'UNAVAILABLE',
      detail: "the workflow's last task failed and it answers nothing until a worker completes it; retry later",
      internal: true,
    };
  }
  if (grpcCode === GrpcStatus.NOT_FOUND) return { code: 'NOT_FOUND', detail: 'not found', internal: true };
  // Temporal refused what the caller asked for (a run id that is not one, a signal name too long):
  // the caller's mistake, in Temporal's words.
  if (grpcCode === GrpcStatus.INVALID_ARGUMENT) {
    return {
      code: 'INVALID_ARGUMENT',
      detail: `Temporal refused the request: ${grpcErrorOf(err)!.details}`,
      internal: false,
    };
  }
  return { code: 'INTERNAL', detail: 'internal error', internal: true };
}

/**
 * temporalDidNotAnswer says err is Temporal not answering a call (unreachable, or not in time),
 * as opposed to an answer that refused it: worth asking again later.
 */
export function temporalDidNotAnswer(err: unknown): boolean {
  const code = grpcErrorOf(err)?.code;
  return code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED || isConnectionError(err);
}

/** grpcErrorOf is the first gRPC error in err's cause chain. */
function grpcErrorOf(err: unknown): GrpcServiceError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e)) return e;
  }
  return undefined;
}

function isConnectionError(err: unknown): boolean {
  const text = String((err as Error)?.message ?? err);
  return /failed to connect|connection refused|ECONNREFUSED|transport error|tcp connect error/i.test(text);
}
