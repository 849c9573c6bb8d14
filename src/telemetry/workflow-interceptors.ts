/**
 * The workflows' OpenTelemetry interceptors, bundled with the workflow code (WORKFLOW_INTERCEPTOR_MODULES in
 * temporal-tracing.ts): Temporal's own, but for the signals of the workflows in UNTRACED_SIGNALS, which are not
 * traced. An events workflow takes a signal for each group of provider webhooks: thousands in a big send, and all
 * of them in one activation when they piled up while no worker ran. A span for each (made in the workflow, then
 * exported through the sink) was most of that activation's time: 6,000 one-event signals took 12 s, past the
 * isolate's 5 s, so the task failed on every attempt until the workflow thread failed and the worker shut down
 * (without the spans: under 5 s). Each signal keeps its span on the sending side (the bridge's "provider events").
 */
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import {
  type Next,
  type SignalInput,
  type WorkflowInboundCallsInterceptor,
  workflowInfo,
  type WorkflowInterceptors,
} from '@temporalio/workflow';
import type * as workflows from '../workflows/index.ts';

/** UNTRACED_SIGNALS are the workflow types whose signals make no span. */
const UNTRACED_SIGNALS: ReadonlySet<string> = new Set(['newsletterEventsWorkflow' satisfies keyof typeof workflows]);

/** Inbound traces as Temporal's interceptor does, except the signals of UNTRACED_SIGNALS. */
class Inbound extends OpenTelemetryInboundInterceptor {
  override handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>) {
    if (UNTRACED_SIGNALS.has(workflowInfo().workflowType)) return next(input);
    return super.handleSignal(input, next);
  }
}

/** interceptors is what the SDK asks a workflow interceptor module for, once per workflow run. */
export const interceptors = (): WorkflowInterceptors => ({
  inbound: [new Inbound()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
