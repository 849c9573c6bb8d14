/**
 * WorkflowService implementation: a generic bridge to the registered workflow types,
 * with JSON arguments and results.
 */
import { Buffer } from 'node:buffer';
import {
  type Client,
  type WorkflowExecutionStatusName,
  WorkflowFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import {
  type CancelWorkflowRequest,
  type CancelWorkflowResponse,
  type GetWorkflowResultRequest,
  type GetWorkflowResultResponse,
  type SignalWorkflowRequest,
  type SignalWorkflowResponse,
  type StartWorkflowRequest,
  type StartWorkflowResponse,
  WorkflowStatus,
} from '../../contracts/gen/authentik/temporal/v1/workflow.ts';
import type { IWorkflowService } from '../../contracts/gen/authentik/temporal/v1/workflow.server.ts';
import { SendNewsletterRequest } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { workflowIdFor } from '../domain/types.ts';
import { currentTraceId, traceMemo } from '../telemetry/tracing.ts';
import { WORKFLOW_SIGNALS, WORKFLOW_TYPES } from '../workflows/registry.ts';
import { resultsSettledSignal } from '../workflows/signals.ts';
import type { RequestLimits } from '../config.ts';
import { InvalidArgumentError } from './errors.ts';
import { within } from './limits.ts';
import { type DeliveryDefaults, toNewsletterInput } from './validation.ts';

const STATUS: Partial<Record<WorkflowExecutionStatusName, WorkflowStatus>> = {
  RUNNING: WorkflowStatus.RUNNING,
  COMPLETED: WorkflowStatus.COMPLETED,
  FAILED: WorkflowStatus.FAILED,
  CANCELLED: WorkflowStatus.CANCELED,
  TERMINATED: WorkflowStatus.TERMINATED,
  CONTINUED_AS_NEW: WorkflowStatus.CONTINUED_AS_NEW,
  TIMED_OUT: WorkflowStatus.TIMED_OUT,
};

/** parseArgs reads args_json: a JSON array is the argument list, any other JSON value the only argument, empty none. */
export function parseArgs(field: string, json: string): unknown[] {
  if (!json.trim()) return [];
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new InvalidArgumentError([`${field}: not valid JSON (${(err as Error).message})`]);
  }
  return Array.isArray(value) ? value : [value];
}

/** Start is what StartWorkflow hands Temporal once a starter has checked the request. */
interface Start {
  workflowId: string;
  args: unknown[];
  /** memo is what the workflow shows in its memo from the start (a newsletter: its trace). */
  memo?: Record<string, unknown>;
}

/**
 * Starter turns StartWorkflow's JSON arguments (and the caller's workflow id, maybe empty)
 * into a start of one registered type, with every check that type's own API makes:
 * nothing reaches a workflow that its typed RPC would refuse, and no caller picks
 * settings, progress or ids the service derives itself.
 */
export type Starter = (args: unknown[], workflowId: string) => Start;

/** starters has one Starter per registered workflow type (a spec checks WORKFLOW_TYPES against it). */
export function starters(defaults: DeliveryDefaults): Record<string, Starter> {
  return {
    newsletterWorkflow(args, workflowId) {
      if (args.length !== 1) {
        throw new InvalidArgumentError([
          `args_json: newsletterWorkflow takes one argument, a SendNewsletterRequest in JSON (got ${args.length})`,
        ]);
      }
      let request: SendNewsletterRequest;
      try {
        request = SendNewsletterRequest.fromJson(args[0] as Parameters<typeof SendNewsletterRequest.fromJson>[0]);
      } catch (err) {
        throw new InvalidArgumentError([`args_json[0]: not a SendNewsletterRequest: ${(err as Error).message}`]);
      }
      // The same validation, server-side settings and trace as SendNewsletter.
      const traceId = currentTraceId();
      const input = { ...toNewsletterInput(request, defaults), ...(traceId ? { traceId } : {}) };
      // Idempotency keys are scoped by the newsletter id, so one newsletter id is one workflow id.
      const expected = workflowIdFor(input.newsletterId);
      if (workflowId && workflowId !== expected) {
        throw new InvalidArgumentError([
          `workflow_id: a newsletter runs as "${expected}" (its provider idempotency keys are scoped by it); leave it empty`,
        ]);
      }
      return { workflowId: expected, args: [input], ...(traceId ? { memo: traceMemo(traceId) } : {}) };
    },
  };
}

const required = (field: string, value: string) => {
  if (!value.trim()) throw new InvalidArgumentError([`${field}: required`]);
};

/**
 * SERVICE_SIGNALS are signals the service's own workflows send each other: a caller forging
 * one (a results hand-off settled) would make a newsletter's books lie.
 */
const SERVICE_SIGNALS: readonly string[] = [resultsSettledSignal.name];

/**
 * MAX_SIGNAL_ARGS_BYTES bounds a signal's arguments: every signal stays in its workflow's
 * history (and in the worker's memory while unhandled), so megabytes each would fill both.
 */
const MAX_SIGNAL_ARGS_BYTES = 64 * 1024;

/** RUN_ID is the shape of a Temporal run id. */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * createWorkflowService builds the WorkflowService handlers. Each one's Temporal calls get
 * limits.temporalCallMs, except GetWorkflowResult's wait: it lasts as long as its caller
 * (its deadline, or until it goes away: limits.ts forCaller).
 */
export function createWorkflowService(
  client: Client,
  taskQueue: string,
  defaults: DeliveryDefaults,
  limits: Pick<RequestLimits, 'temporalCallMs'>,
): IWorkflowService {
  const starterOf = starters(defaults);
  const bounded = <T>(operation: () => Promise<T>) => within(client, limits.temporalCallMs, operation);
  /**
   * apiWorkflow is the handle of a workflow this API runs (a registered type), or INVALID_ARGUMENT:
   * the service's own workflows (the suppression list's shards, results, events) are not the
   * caller's to cancel, signal or read; cancelling a shard would empty the suppression list.
   */
  const apiWorkflow = async (workflowId: string, runId?: string): Promise<{ handle: WorkflowHandle; type: string }> => {
    required('workflow_id', workflowId);
    if (runId && !RUN_ID.test(runId)) {
      throw new InvalidArgumentError(['run_id: not a run id (a UUID), or empty for the latest']);
    }
    const handle = client.workflow.getHandle(workflowId, runId || undefined);
    const { type } = await bounded(() => handle.describe());
    if (!WORKFLOW_TYPES.includes(type)) {
      throw new InvalidArgumentError([
        `workflow_id: ${JSON.stringify(workflowId.slice(0, 128))} is not a workflow this API runs (the service's own)`,
      ]);
    }
    return { handle, type };
  };
  return {
    async startWorkflow(request: StartWorkflowRequest): Promise<StartWorkflowResponse> {
      const starter = starterOf[request.workflowType];
      if (!WORKFLOW_TYPES.includes(request.workflowType) || !starter) {
        throw new InvalidArgumentError([
          `workflow_type: "${request.workflowType}" is not registered (registered: ${WORKFLOW_TYPES.join(', ')})`,
        ]);
      }
      const { workflowId, args, memo } = starter(
        parseArgs('args_json', request.argsJson),
        request.workflowId.trim(),
      );
      // A workflow id is an idempotency key, as for newsletters: never run twice.
      const handle = await bounded(() =>
        client.workflow.start(request.workflowType, {
          workflowId: workflowId || `${request.workflowType}-${randomUUID()}`,
          taskQueue,
          args,
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          ...(memo ? { memo } : {}),
        })
      );
      return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
    },

    async getWorkflowResult(request: GetWorkflowResultRequest): Promise<GetWorkflowResultResponse> {
      const { handle } = await apiWorkflow(request.workflowId, request.runId);
      if (request.wait) {
        try {
          const result = await handle.result();
          return { status: WorkflowStatus.COMPLETED, resultJson: JSON.stringify(result ?? null), failureMessage: '' };
        } catch (err) {
          // It ended otherwise: describe() below says how. Anything else (the caller went away, Temporal) is the answer.
          if (!(err instanceof WorkflowFailedError)) throw err;
        }
      }
      return await bounded(() => describeResult(handle));
    },

    async signalWorkflow(request: SignalWorkflowRequest): Promise<SignalWorkflowResponse> {
      required('workflow_id', request.workflowId);
      required('signal_name', request.signalName);
      if (SERVICE_SIGNALS.includes(request.signalName)) {
        throw new InvalidArgumentError([`signal_name: ${request.signalName} is the service's own`]);
      }
      const bytes = Buffer.byteLength(request.argsJson);
      if (bytes > MAX_SIGNAL_ARGS_BYTES) {
        throw new InvalidArgumentError([
          `args_json: at most ${MAX_SIGNAL_ARGS_BYTES} bytes for a signal (got ${bytes})`,
        ]);
      }
      const args = parseArgs('args_json', request.argsJson);
      const { handle, type } = await apiWorkflow(request.workflowId);
      const taken = WORKFLOW_SIGNALS[type];
      if (!taken?.signals.includes(request.signalName)) {
        const name = JSON.stringify(request.signalName.slice(0, 128));
        const takes = taken?.signals.length ? `it takes ${taken.signals.join(', ')}` : 'it takes none';
        throw new InvalidArgumentError([
          `signal_name: ${type} takes no signal ${name} (${takes}; ${taken?.instead ?? 'no other way'})`,
        ]);
      }
      await bounded(() => handle.signal(request.signalName, ...args));
      return {};
    },

    async cancelWorkflow(request: CancelWorkflowRequest): Promise<CancelWorkflowResponse> {
      const { handle } = await apiWorkflow(request.workflowId);
      await bounded(() => handle.cancel());
      return {};
    },
  };
}

/** describeResult reports a workflow's state now, with its result or failure once it has ended. */
async function describeResult(handle: WorkflowHandle): Promise<GetWorkflowResultResponse> {
  const description = await handle.describe();
  const status = STATUS[description.status.name] ?? WorkflowStatus.UNSPECIFIED;
  if (status === WorkflowStatus.COMPLETED) {
    return { status, resultJson: JSON.stringify((await handle.result()) ?? null), failureMessage: '' };
  }
  let failureMessage = '';
  if (status !== WorkflowStatus.RUNNING && status !== WorkflowStatus.CONTINUED_AS_NEW) {
    failureMessage = await handle.result().then(
      () => '',
      (err: Error) => String(err.cause instanceof Error ? err.cause.message : err.message),
    );
  }
  return { status, resultJson: '', failureMessage };
}
