/**
 * Temporal's OpenTelemetry interceptors, in one place: the client side (StartWorkflow
 * spans, trace context into Temporal headers) and the worker side (RunWorkflow and
 * RunActivity spans, workflow spans exported through a sink).
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkerOptions } from '@temporalio/worker';
import type { ClientInterceptors } from '@temporalio/client';
import type { Tracing } from './tracing.ts';

/** WORKFLOW_INTERCEPTOR_MODULES must be bundled with the workflow code (bundleWorkflowCode or workflowModules). */
export const WORKFLOW_INTERCEPTOR_MODULES = [
  // Beside this module: .ts from source, .js from dist.
  fileURLToPath(new URL(`./workflow-interceptors${extname(import.meta.url)}`, import.meta.url)),
];

/** clientInterceptors makes StartWorkflow (and signal/query/update) spans children of the active span. */
export function clientInterceptors(): ClientInterceptors {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}

/** workerTracingOptions adds the activity interceptors, workflow interceptor modules and span sink to a worker. */
export function workerTracingOptions(tracing: Tracing): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  return {
    interceptors: {
      workflowModules: WORKFLOW_INTERCEPTOR_MODULES,
      // The client activities use (a results workflow started for results the backend did not
      // take) carries the trace on, as the bridge's does.
      client: clientInterceptors(),
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
  };
}
