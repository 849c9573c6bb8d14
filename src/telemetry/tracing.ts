/**
 * Tracing: one OpenTelemetry tracer provider per process (OTel JS v1, the line the
 * Temporal interceptor package is built on, so spans of both join one trace). W3C
 * trace context crosses gRPC metadata and Temporal headers. Spans are exported over
 * OTLP only when the standard OTEL_* variables ask for it; otherwise they stay local
 * (trace ids still reach logs and responses).
 */
import {
  type Attributes,
  context,
  diag,
  DiagLogLevel,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import { randomBytes } from 'node:crypto';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  NoopSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../logger.ts';
import { maskedError } from '../domain/addresses.ts';

/** TRACER_NAME names the tracer of this service's own spans. */
export const TRACER_NAME = 'authentik-temporal-server';

/** Tracing is the process's tracer setup; the worker hands spanProcessor to the workflow span sink. */
export interface Tracing {
  resource: Resource;
  spanProcessor: SpanProcessor;
  shutdown(): Promise<void>;
}

/** TracingOptions: an explicit exporter (tests) or the OTLP exporter when `otlp` is true. */
export interface TracingOptions {
  serviceName: string;
  otlp: boolean;
  /** resourceAttributes (OTEL_RESOURCE_ATTRIBUTES) go on every span's resource; the service name is serviceName's. */
  resourceAttributes?: Record<string, string>;
  exporter?: SpanExporter;
  /** logger hears OpenTelemetry's own warnings and errors (an export that failed), which it otherwise drops. */
  logger?: Logger;
}

let installed: Tracing | undefined;

/** setupTracing registers the global tracer provider, context manager and W3C propagators, once per process. */
export function setupTracing(options: TracingOptions): Tracing {
  if (installed) return installed;
  if (options.logger) {
    const log = options.logger.child({ component: 'opentelemetry' });
    const warn = (message: string, ...args: unknown[]) =>
      log.warn({ details: args.map(String).join(' ').slice(0, 500) }, `opentelemetry: ${message}`);
    const quiet = () => {};
    diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, DiagLogLevel.WARN);
  }
  const resource = new Resource({ ...options.resourceAttributes, 'service.name': options.serviceName });
  const spanProcessor: SpanProcessor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : options.otlp
    ? new BatchSpanProcessor(new OTLPTraceExporter())
    : new NoopSpanProcessor();
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register({
    contextManager: new AsyncLocalStorageContextManager(),
    propagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
  });
  installed = {
    resource,
    spanProcessor,
    // The last spans' export may fail (the collector gone): a process that stops says so and stops anyway.
    shutdown: () =>
      provider.shutdown().catch((err) => {
        diag.error('spans not exported at shutdown', String(err));
      }),
  };
  return installed;
}

/** currentTraceId is the trace id of the active span, if any. */
export function currentTraceId(): string | undefined {
  const id = trace.getActiveSpan()?.spanContext().traceId;
  return id && !/^0+$/.test(id) ? id : undefined;
}

/**
 * traceMemo is what a newsletter's memo keeps of the trace it starts in: the trace id, and the
 * span that started it (where what comes back later, its provider events, hangs in the trace).
 */
export function traceMemo(traceId: string | undefined): Record<string, string> {
  if (!traceId) return {};
  const active = trace.getActiveSpan()?.spanContext();
  return { trace_id: traceId, ...(active?.traceId === traceId ? { span_id: active.spanId } : {}) };
}

/** NewsletterTrace is a newsletter's trace as its memo keeps it (traceMemo). */
export interface NewsletterTrace {
  traceId: string;
  spanId?: string;
}

/** traceFromMemo reads back what traceMemo wrote, or undefined for a newsletter without a trace. */
export function traceFromMemo(memo: Record<string, unknown> | undefined): NewsletterTrace | undefined {
  const traceId = memo?.['trace_id'];
  const spanId = memo?.['span_id'];
  if (typeof traceId !== 'string') return undefined;
  return { traceId, ...(typeof spanId === 'string' ? { spanId } : {}) };
}

/** inSpan runs fn inside a new active span, recording an exception and error status when fn throws. */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: ReturnType<typeof context.active> },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const tracer = trace.getTracer(TRACER_NAME);
  return await tracer.startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes },
    options.parent ?? context.active(),
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        // A provider's words may name a recipient: a trace shows the failure, not the address.
        const { name, message, stack } = maskedError(err);
        span.recordException({ name, message, stack });
        span.setStatus({ code: SpanStatusCode.ERROR, message });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * linkToNewsletterTrace marks the active span (a call about a newsletter, in its caller's trace)
 * with the newsletter's trace, as traceMemo kept it: an attribute to search by, and a link to the
 * span that started it.
 */
export function linkToNewsletterTrace(memo: Record<string, unknown> | undefined): void {
  const span = trace.getActiveSpan();
  const newsletter = traceFromMemo(memo);
  if (!span || !newsletter) return;
  const { traceId, spanId } = newsletter;
  span.setAttribute('newsletter.trace_id', traceId);
  if (spanId && span.spanContext().traceId !== traceId) {
    span.addLink({ context: { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true } });
  }
}

/**
 * inTrace is a context whose spans join the trace traceId as children of spanId (the span that
 * started the newsletter; one not recorded here when the memo has none): what comes back about a
 * newsletter later, from elsewhere, lands in its trace.
 */
export function inTrace(traceId: string, spanId?: string): ReturnType<typeof context.active> {
  return trace.setSpanContext(context.active(), {
    traceId,
    spanId: spanId ?? randomBytes(8).toString('hex'),
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/** extractContext reads W3C trace context from gRPC metadata (lower-case keys). */
export function extractContext(headers: Record<string, string | string[]>) {
  return propagation.extract(context.active(), headers, {
    keys: (carrier) => Object.keys(carrier),
    get: (carrier, key) => carrier[key],
  });
}

export { SpanKind, SpanStatusCode };
