/**
 * createNewsletterClient: the typed gRPC clients of authentik-temporal-server with what
 * every caller needs set once — the bearer token, a deadline on every unary call, TLS —
 * and retries where a retry is safe.
 *
 * Deadlines: deadlineMs on every unary call, 30 s more on cancel, pause and resume (WAITING_METHODS).
 *
 * Retried (on UNAVAILABLE only: the server was not reached or went away, with capped,
 * jittered backoff, within the call's deadline):
 * - reads: GetNewsletterStatus, ListSuppressions, GetWorkflowResult;
 * - WatchNewsletter: a stream that ends UNAVAILABLE (a restart, or the server's
 *   WATCH_MAX_LIFETIME) is opened again; it starts with the current status, so the
 *   caller sees at most a repeated snapshot, never a gap;
 * - SendNewsletter: `newsletter_id` is its idempotency key, so a retry after a lost answer
 *   never starts a second send — it answers `already_exists: true` with the same workflow.
 * Never retried: cancel, pause, resume, reschedule, suppression changes and the generic
 * StartWorkflow / SignalWorkflow / CancelWorkflow, whose second call is not the same as one.
 */
import { Buffer } from 'node:buffer';
import { ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { GrpcTransport } from '@protobuf-ts/grpc-transport';
import {
  Deferred,
  DeferredState,
  type MethodInfo,
  RpcError,
  type RpcInterceptor,
  type RpcMetadata,
  type RpcOptions,
  RpcOutputStreamController,
  type RpcStatus,
  ServerStreamingCall,
  UnaryCall,
} from '@protobuf-ts/runtime-rpc';
import { NewsletterServiceClient } from './gen/authentik/temporal/v1/newsletter.client.ts';
import { WorkflowServiceClient } from './gen/authentik/temporal/v1/workflow.client.ts';

/** TlsOptions are PEM contents (not paths: this package reads no files). */
export interface TlsOptions {
  /** ca is the CA to trust instead of the system's. */
  ca?: string | Uint8Array;
  /** cert and key are the client's certificate and key, for a server that asks for one (mTLS). */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
}

/** NewsletterClientOptions say where the service is and how to reach it. */
export interface NewsletterClientOptions {
  /** address is host:port of the bridge (TEMPORAL_SERVER_PORT on the server, 50051 by default). */
  address: string;
  /** token is the server's INTERNAL_SERVICE_TOKEN, sent as `authorization: Bearer <token>`. */
  token?: string;
  /** tls: true for TLS with the system's CAs, options for a CA or a client certificate; plaintext when absent. */
  tls?: boolean | TlsOptions;
  /** deadlineMs bounds each unary call, its retries included (default 30 s); a call's own `timeout` wins. */
  deadlineMs?: number;
  /** retries is how many times a safe call is tried again after UNAVAILABLE (default 20: about 15 s; a unary call stops at its deadline). */
  retries?: number;
  /** channelOptions are passed to grpc-js as they are. */
  channelOptions?: ChannelOptions;
}

/** NewsletterClient holds the two typed clients over one connection. */
export interface NewsletterClient {
  newsletters: NewsletterServiceClient;
  workflows: WorkflowServiceClient;
  /** close ends the connection: calls in flight, open streams and calls waiting to retry end CANCELLED. */
  close(): void;
}

/** RETRIED_METHODS are the methods a retry cannot turn into a second, different action. */
export const RETRIED_METHODS: ReadonlySet<string> = new Set([
  'authentik.temporal.v1.NewsletterService/SendNewsletter',
  'authentik.temporal.v1.NewsletterService/GetNewsletterStatus',
  'authentik.temporal.v1.NewsletterService/WatchNewsletter',
  'authentik.temporal.v1.NewsletterService/ListSuppressions',
  'authentik.temporal.v1.WorkflowService/GetWorkflowResult',
]);

/**
 * WAITING_METHODS get WAIT_FOR_BATCHES_MS on the server on top of their Temporal calls (cancel
 * waits that long for the newsletter's batches in flight; pause and resume share its budget):
 * their default deadline is that much longer, so a cancel the server applied is not reported
 * DEADLINE_EXCEEDED.
 */
export const WAITING_METHODS: ReadonlySet<string> = new Set([
  'authentik.temporal.v1.NewsletterService/CancelNewsletter',
  'authentik.temporal.v1.NewsletterService/PauseNewsletter',
  'authentik.temporal.v1.NewsletterService/ResumeNewsletter',
]);
const WAIT_FOR_BATCHES_MS = 30_000;

const DEFAULT_DEADLINE_MS = 30_000;
/** DEFAULT_RETRIES: about 15 s of backoff on average, at most about 33 s (each wait at most 2 s): a bridge restarting. */
const DEFAULT_RETRIES = 20;

/** createNewsletterClient connects (lazily: the first call opens the connection) to the bridge at options.address. */
export function createNewsletterClient(options: NewsletterClientOptions): NewsletterClient {
  if (!/^[^\s/]+:\d{1,5}$/.test(options.address)) {
    throw new TypeError(`address: must be host:port (got "${options.address}")`);
  }
  // Trimmed as the server trims its own; checked here, since grpc-js's refusal quotes the header, token and all.
  const token = options.token?.trim();
  if (token !== undefined && !/^[\x21-\x7e]*$/.test(token)) {
    throw new TypeError(
      'token: must be printable ASCII without spaces (it travels in a header); the value is not shown',
    );
  }
  // Closing aborts every call of this client first: a call waiting to retry must not try a closed channel.
  const closing = new AbortController();
  const transport = new GrpcTransport({
    host: options.address,
    channelCredentials: credentialsOf(options.tls),
    clientOptions: options.channelOptions,
    meta: token ? { authorization: `Bearer ${token}` } : {},
    interceptors: [
      retrying({
        deadlineMs: options.deadlineMs ?? DEFAULT_DEADLINE_MS,
        retries: options.retries ?? DEFAULT_RETRIES,
        closing: closing.signal,
      }),
    ],
  });
  return {
    newsletters: new NewsletterServiceClient(transport),
    workflows: new WorkflowServiceClient(transport),
    close: () => {
      closing.abort();
      transport.close();
    },
  };
}

function credentialsOf(tls: NewsletterClientOptions['tls']): ChannelCredentials {
  if (!tls) return ChannelCredentials.createInsecure();
  if (tls === true) return ChannelCredentials.createSsl();
  const bytes = (pem?: string | Uint8Array) => (pem === undefined ? null : Buffer.from(pem));
  return ChannelCredentials.createSsl(bytes(tls.ca), bytes(tls.key), bytes(tls.cert));
}

const pathOf = (method: MethodInfo) => `${method.service.typeName}/${method.name}`;

/** backoffMs is the wait before retry n (1-based): 100 ms doubling, capped at 2 s, with full jitter. */
export function backoffMs(n: number, random = Math.random): number {
  return Math.round(random() * Math.min(2_000, 100 * 2 ** (n - 1)));
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * callSignal is one call's own signal, aborted by any of sources; release() unhooks it from
 * them. The transport listens on the signal it is given and never stops: given the client's
 * close signal (or a caller's long-lived one) itself, each call would leave a listener there for
 * the client's life, 12 KB a call.
 */
function callSignal(...sources: Array<AbortSignal | undefined>): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const given = sources.filter((s): s is AbortSignal => s !== undefined);
  const abort = () => {
    controller.abort();
    release();
  };
  const release = () => {
    for (const source of given) source.removeEventListener('abort', abort);
  };
  for (const source of given) {
    if (source.aborted) {
      abort();
      break;
    }
    source.addEventListener('abort', abort, { once: true });
  }
  return { signal: controller.signal, release };
}

/** whenSettled runs release once a call's status is known, whatever it is. */
const whenSettled = (status: Promise<unknown>, release: () => void) => void status.then(release, release);

/** once makes a call that is not retried, releasing its signal when it ends (or at once when it cannot start). */
function once<C extends { status: Promise<unknown> }>(start: () => C, release: () => void): C {
  try {
    const call = start();
    whenSettled(call.status, release);
    return call;
  } catch (err) {
    release();
    throw err;
  }
}

const retryable = (err: unknown) => err instanceof RpcError && err.code === 'UNAVAILABLE';

/** cancelled is what a call ends with once its caller aborted it or the client was closed. */
const cancelled = (err: unknown) =>
  err instanceof RpcError && err.code === 'CANCELLED' ? err : new RpcError('the call was cancelled', 'CANCELLED');

/**
 * StoppableOutputStream is a stream whose iterator has `return()`: protobuf-ts's has only
 * `next()`, so leaving a `for await` early left the call open (on the server, a watch that
 * kept polling the workflow) until the client closed. Here it stops the call.
 */
class StoppableOutputStream<T extends object> extends RpcOutputStreamController<T> {
  readonly #stop: () => void;

  constructor(stop: () => void) {
    super();
    this.#stop = stop;
  }

  override [Symbol.asyncIterator](): AsyncIterator<T> {
    const iterator = super[Symbol.asyncIterator]();
    return {
      next: () => iterator.next(),
      return: () => {
        this.#stop();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** defaultDeadlineMs is a unary call's deadline when it sets none: deadlineMs, longer for WAITING_METHODS. */
const defaultDeadlineMs = (deadlineMs: number, method: MethodInfo) =>
  WAITING_METHODS.has(pathOf(method)) ? deadlineMs + WAIT_FOR_BATCHES_MS : deadlineMs;

/** retrying sets the default deadline on unary calls and retries the safe methods; see the module comment. */
function retrying(settings: { deadlineMs: number; retries: number; closing: AbortSignal }): RpcInterceptor {
  return {
    interceptUnary(next, method, input, options) {
      const deadline = options.timeout instanceof Date
        ? options.timeout
        : new Date(Date.now() + (options.timeout ?? defaultDeadlineMs(settings.deadlineMs, method)));
      // What ends the call: its caller's signal or the client's close.
      const { signal: abort, release } = callSignal(options.abort, settings.closing);
      const attemptOptions: RpcOptions = { ...options, timeout: deadline, abort };
      if (!RETRIED_METHODS.has(pathOf(method))) return once(() => next(method, input, attemptOptions), release);
      const headers = new Deferred<RpcMetadata>();
      const response = new Deferred<object>();
      const status = new Deferred<RpcStatus>();
      const trailers = new Deferred<RpcMetadata>();
      whenSettled(Promise.allSettled([response.promise, status.promise]), release);
      void (async () => {
        for (let attempt = 1;; attempt++) {
          try {
            // Inside the try: a closed channel throws at once, not through the call's promise.
            const finished = await next(method, input, attemptOptions);
            headers.resolve(finished.headers);
            response.resolve(finished.response);
            status.resolve(finished.status);
            trailers.resolve(finished.trailers);
            return;
          } catch (err) {
            const wait = backoffMs(attempt);
            const more = retryable(err) && attempt <= settings.retries && !abort.aborted &&
              Date.now() + wait < deadline.getTime();
            if (more) {
              await sleep(wait, abort);
              if (!abort.aborted) continue;
            }
            const end = abort.aborted ? cancelled(err) : err;
            for (const d of [headers, response, status, trailers]) d.reject(end);
            return;
          }
        }
      })();
      return new UnaryCall(
        method,
        options.meta ?? {},
        input,
        headers.promise,
        response.promise,
        status.promise,
        trailers.promise,
      );
    },

    interceptServerStreaming(next, method, input, callerOptions) {
      // A caller that stops reading (break, return or throw in its `for await`) ends the call.
      const stop = new AbortController();
      const { signal: abort, release } = callSignal(callerOptions.abort, settings.closing, stop.signal);
      // The caller's timeout holds for the watch as a whole: every stream opened again ends at the same time.
      const timeout = callerOptions.timeout;
      const deadline = timeout === undefined
        ? undefined
        : timeout instanceof Date
        ? timeout
        : new Date(Date.now() + timeout);
      const options: RpcOptions = { ...callerOptions, abort, ...(deadline ? { timeout: deadline } : {}) };
      if (!RETRIED_METHODS.has(pathOf(method))) return once(() => next(method, input, options), release);
      const out = new StoppableOutputStream<object>(() => stop.abort());
      const headers = new Deferred<RpcMetadata>();
      const status = new Deferred<RpcStatus>();
      const trailers = new Deferred<RpcMetadata>();
      void (async () => {
        // Failures in a row without a message; a stream that delivered something starts the count again.
        let failures = 0;
        try {
          for (;;) {
            // Each stream its own signal, released when it ends: a watch reopened for days keeps none.
            const attempt = callSignal(abort);
            try {
              const call = next(method, input, { ...options, abort: attempt.signal });
              void call.headers.then((h) => headers.state === DeferredState.PENDING && headers.resolve(h), () => {});
              for await (const message of call.responses) {
                failures = 0;
                out.notifyMessage(message);
              }
              status.resolve(await call.status);
              trailers.resolve(await call.trailers);
              out.notifyComplete();
              return;
            } catch (err) {
              failures++;
              const wait = backoffMs(failures);
              const more = retryable(err) && failures <= settings.retries && !abort.aborted &&
                (deadline === undefined || Date.now() + wait < deadline.getTime());
              if (more) {
                await sleep(wait, abort);
                if (!abort.aborted) continue;
              }
              const end = abort.aborted ? cancelled(err) : err;
              for (const d of [headers, status, trailers]) if (d.state === DeferredState.PENDING) d.reject(end);
              out.notifyError(end as Error);
              return;
            } finally {
              attempt.release();
            }
          }
        } finally {
          release();
        }
      })();
      return new ServerStreamingCall(
        method,
        options.meta ?? {},
        input,
        headers.promise,
        out,
        status.promise,
        trailers.promise,
      );
    },
  };
}
