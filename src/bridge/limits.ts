/**
 * What one gRPC request may hold on to (README, "Security"): the Temporal calls it makes
 * end with the caller (its deadline, or the moment it goes away) and within a budget of
 * their own; WatchNewsletter streams are counted per client address. The limits are
 * RequestLimits in config.ts.
 */
import { ServerInterceptingCall, type ServerInterceptor, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServerCallContext } from '@protobuf-ts/runtime-rpc';
import type { Client, Connection } from '@temporalio/client';
import { TooManyStreamsError, toRpcStatus } from './errors.ts';

/**
 * forCaller runs a request's handler so that every Temporal call it makes is cancelled when
 * the caller goes away and fails once the caller's deadline has passed: no work for nobody.
 */
export async function forCaller<T>(
  client: Client,
  context: ServerCallContext,
  handler: () => Promise<T>,
): Promise<T> {
  const gone = new AbortController();
  const unsubscribe = context.onCancel(() => gone.abort());
  const deadline = context.deadline.getTime(); // NaN when the caller set none
  const run = () => client.withAbortSignal(gone.signal, handler);
  try {
    return await (Number.isFinite(deadline) ? client.withDeadline(deadline, run) : run());
  } finally {
    unsubscribe();
  }
}

/**
 * within runs one Temporal operation with a deadline budgetMs from now, or the deadline
 * already in force (the caller's) when that is sooner: a Temporal that stops answering
 * costs a request budgetMs, never a hung call.
 */
export function within<T>(client: Client, budgetMs: number, operation: () => Promise<T>): Promise<T> {
  const outer = (client.connection as Partial<Connection>).callContextStorage?.getStore()?.deadline;
  const own = Date.now() + budgetMs;
  return client.withDeadline(outer === undefined ? own : Math.min(own, new Date(outer).getTime()), operation);
}

/** callerOf is the client address of a call, without its port ("unknown" when grpc-js cannot tell). */
function callerOf(peer: string): string {
  const colon = peer.lastIndexOf(':');
  return colon > 0 ? peer.slice(0, colon) : peer;
}

/**
 * streamsPerCaller is a server interceptor that lets each client address hold at most
 * `max` calls of `path` at once; the next one is refused with RESOURCE_EXHAUSTED before its
 * handler runs. A slot is freed when its call ends, however it ends.
 */
export function streamsPerCaller(path: string, max: number): ServerInterceptor {
  const open = new Map<string, number>();
  return (method, call) => {
    if (method.path !== path) return new ServerInterceptingCall(call);
    const caller = callerOf(call.getPeer());
    if ((open.get(caller) ?? 0) >= max) {
      const refused = toRpcStatus(new TooManyStreamsError(method.path.split('/').pop()!, max));
      return new ServerInterceptingCall(call, {
        start(next) {
          next({
            onReceiveMetadata() {
              call.sendStatus({ code: GrpcStatus[refused.code], details: refused.detail });
            },
          });
        },
      });
    }
    open.set(caller, (open.get(caller) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (open.get(caller) ?? 1) - 1;
      if (left > 0) open.set(caller, left);
      else open.delete(caller);
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onCancel() {
            release();
          },
        });
      },
      sendStatus(status, next) {
        release();
        next(status);
      },
    });
  };
}
