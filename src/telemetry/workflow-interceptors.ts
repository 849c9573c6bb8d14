/**
 * The workflows' OpenTelemetry interceptors, bundled with the workflow code (WORKFLOW_INTERCEPTOR_MODULES in
 * temporal-tracing.ts): Temporal's own, but for the signals of the workflows in UNTRACED_SIGNALS, which are not
 * traced. An events workflow takes a signal for each group of provider webhooks, thousands in a big send, and each
 * group already has its span on the sending side (the bridge's "provider events"): one per signal in the workflow
 * would repeat it. (Made first to shorten the activation that takes the signals piled up during a worker outage;
 * measured again, with and without these spans it takes the same time, the SDK's own cost per signal being most
 * of it: 4.5 s for 6,000 signals in the integration harness; in `make bench`, tasks of 4.3 to 8.7 s, and at 10,000
 * one failed on the isolate's 5 s: bench/README.md, "Signals piled up during a worker outage".)
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
