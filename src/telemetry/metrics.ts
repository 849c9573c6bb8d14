/**
 * Metrics: every Prometheus metric of the service, in one registry per role, one
 * prefix (`newsletter_`), base units, bounded labels (never ids or addresses). Label
 * sets that are known in advance start at zero so dashboards and alerts see a series
 * before the first event.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type NewsletterState, type ProviderName, PROVIDERS } from '../domain/types.ts';
import type { FailureClass } from '../providers/failures.ts';
import type { CircuitState } from '../providers/circuit-breaker.ts';

/** DeliveryMetrics is what activities report; optional everywhere so tests may pass none. */
export interface DeliveryMetrics {
  providerCall(provider: ProviderName, outcome: 'ok' | FailureClass, durationMs: number): void;
  emails(
    provider: ProviderName,
    result: 'sent' | 'failed' | 'skipped',
    errorClass: 'none' | FailureClass,
    count: number,
  ): void;
  failover(
    from: ProviderName,
    /** to is the next provider in the batch's order, or 'none' when this was the last: the batch then waits. */
    to: ProviderName | 'none',
    reason: FailureClass | 'circuit_open' | 'not_configured' | 'refused_messages',
  ): void;
  rateLimitWait(provider: ProviderName, waitMs: number): void;
  batchStarted(provider: ProviderName): () => void;
  circuitState(provider: ProviderName, state: CircuitState): void;
  callback(outcome: 'ok' | 'retry' | 'rejected' | 'disabled' | 'handed_off'): void;
  /** deliveryEvent counts provider events after the send, each once (bounce: hard, soft or ''). */
  deliveryEvent(provider: string, kind: string, bounce: string): void;
  /** newsletterStarted counts a newsletter whose sending began (a scheduled one when its time came). */
  newsletterStarted(): void;
  newsletterFinished(state: NewsletterState): void;
}

/** BridgeMetrics is what the gRPC edge reports. */
export interface BridgeMetrics {
  rpc(service: string, method: string, code: string, durationMs: number): void;
  /** webhook counts provider webhooks by outcome (accepted, ignored, unauthorized, malformed, too_large, retry, aborted). */
  webhook(provider: string, outcome: string): void;
  /** openNewsletters sets the count of open newsletters by state (a state not given: none). */
  openNewsletters(counts: ReadonlyMap<NewsletterState | 'PAUSED_ITSELF' | 'unknown', number>): void;
}

/** Metrics owns the registry served at /metrics. */
export interface Metrics extends DeliveryMetrics, BridgeMetrics {
  readonly registry: Registry;
}

const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };
const FINAL: NewsletterState[] = ['COMPLETED', 'COMPLETED_WITH_FAILURES', 'CANCELLED', 'FAILED'];
const OPEN_STATES: Array<NewsletterState | 'PAUSED_ITSELF' | 'unknown'> = [
  'SCHEDULED',
  'RUNNING',
  'PAUSED',
  'PAUSED_ITSELF',
  ...FINAL,
  'unknown',
];

/** createMetrics builds a fresh registry with default process metrics for one role (bridge or worker). */
export function createMetrics(role: 'bridge' | 'worker'): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const rpcs = new Counter({
    name: 'newsletter_grpc_server_handled_total',
    help: 'gRPC calls handled, by service, method and status code.',
    labelNames: ['service', 'method', 'code'],
    registers,
  });
  const rpcLatency = new Histogram({
    name: 'newsletter_grpc_server_handling_seconds',
    help: 'gRPC handling time by service, method and status code.',
    labelNames: ['service', 'method', 'code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const started = new Counter({
    name: 'newsletter_newsletters_started_total',
    // Counted by the worker, as finished is: started − finished stays true across restarts of
    // either role (increase() sees each counter's resets), and a newsletter scheduled for later
    // is not running until its time comes.
    help: 'Newsletters whose sending began (a scheduled one when its time came), counted once by the worker.',
    registers,
  });
  const webhooks = new Counter({
    name: 'newsletter_webhooks_total',
    help:
      'Provider webhooks received, by provider and outcome (accepted: handed to Temporal; retry: the provider was asked to send it again).',
    labelNames: ['provider', 'outcome'],
    registers,
  });
  const finished = new Counter({
    name: 'newsletter_newsletters_finished_total',
    help: 'Newsletters that reached a final state, by state.',
    labelNames: ['state'],
    registers,
  });
  const emails = new Counter({
    name: 'newsletter_emails_total',
    help:
      'Recipients settled by a provider: sent, failed with an error class, or skipped (suppressed by the provider).',
    labelNames: ['provider', 'result', 'error_class'],
    registers,
  });
  const providerCalls = new Histogram({
    name: 'newsletter_provider_call_duration_seconds',
    help: 'Provider API call latency, by provider and outcome (ok or failure class).',
    labelNames: ['provider', 'outcome'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const failovers = new Counter({
    name: 'newsletter_failovers_total',
    help:
      'Batches handed from one provider to the other (to=none: none left, the batch waits out an outage), by direction and reason.',
    labelNames: ['from', 'to', 'reason'],
    registers,
  });
  const rateLimitWaits = new Counter({
    name: 'newsletter_rate_limit_waits_total',
    help: 'Provider throttling answers that made a batch wait and retry.',
    labelNames: ['provider'],
    registers,
  });
  const rateLimitWaitSeconds = new Counter({
    name: 'newsletter_rate_limit_wait_seconds_total',
    help: 'Time batches were asked to wait by provider throttling (retry-after).',
    labelNames: ['provider'],
    registers,
  });
  const inFlight = new Gauge({
    name: 'newsletter_batches_in_flight',
    help: 'Batch activities running in this worker, by provider.',
    labelNames: ['provider'],
    registers,
  });
  const batchDuration = new Histogram({
    name: 'newsletter_batch_duration_seconds',
    help: 'Time to render and send one batch attempt, by provider.',
    labelNames: ['provider'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const circuit = new Gauge({
    name: 'newsletter_provider_circuit_state',
    help: 'Circuit breaker state per provider: 0 closed, 1 half open, 2 open.',
    labelNames: ['provider'],
    registers,
  });
  const callbacks = new Counter({
    name: 'newsletter_backend_callbacks_total',
    help:
      'Backend callbacks (status, results, events), by outcome: ok, retry (an attempt failed, tried again later), rejected (refused for good), disabled (no BACKEND_URL), handed_off (results handed to a results workflow without a direct post, while the backend lags).',
    labelNames: ['outcome'],
    registers,
  });

  const open = new Gauge({
    name: 'newsletter_newsletters_open',
    help:
      'Newsletters whose workflow is open, by the state it keeps in its memo (PAUSED_ITSELF: every provider refused for too long, it waits for a person; a final state: callbacks still owed; unknown: begun before the state was kept), as the bridge last listed them.',
    labelNames: ['state'],
    registers,
  });

  const deliveryEvents = new Counter({
    name: 'newsletter_delivery_events_total',
    help: 'Provider events after the send (webhooks), each provider event once, by provider, kind and bounce type.',
    labelNames: ['provider', 'kind', 'bounce'],
    registers,
  });

  if (role === 'worker') {
    for (const provider of PROVIDERS) {
      // Zero from the start, so bounce and complaint rates exist before the first event.
      deliveryEvents.inc({ provider, kind: 'bounced', bounce: 'hard' }, 0);
      deliveryEvents.inc({ provider, kind: 'complained', bounce: '' }, 0);
      emails.inc({ provider, result: 'sent', error_class: 'none' }, 0);
      inFlight.set({ provider }, 0);
      rateLimitWaits.inc({ provider }, 0);
      rateLimitWaitSeconds.inc({ provider }, 0);
      circuit.set({ provider }, 0);
      for (const to of PROVIDERS.filter((p) => p !== provider)) {
        failovers.inc({ from: provider, to, reason: 'transient' }, 0);
      }
    }
    for (const outcome of ['ok', 'retry', 'rejected', 'disabled', 'handed_off']) callbacks.inc({ outcome }, 0);
    for (const state of FINAL) finished.inc({ state }, 0);
    started.inc(0);
  }
  if (role === 'bridge') {
    for (const state of OPEN_STATES) open.set({ state }, 0);
    // The share of webhooks refused exists (0 / 0) before the first one.
    for (const provider of PROVIDERS) {
      for (const outcome of ['accepted', 'unauthorized', 'malformed']) webhooks.inc({ provider, outcome }, 0);
    }
  }

  return {
    registry,
    rpc: (service, method, code, ms) => {
      rpcs.inc({ service, method, code });
      rpcLatency.observe({ service, method, code }, ms / 1000);
    },
    newsletterStarted: () => started.inc(),
    webhook: (provider, outcome) => webhooks.inc({ provider, outcome }),
    openNewsletters: (counts) => {
      for (const state of new Set([...OPEN_STATES, ...counts.keys()])) open.set({ state }, counts.get(state) ?? 0);
    },
    newsletterFinished: (state) => finished.inc({ state }),
    providerCall: (provider, outcome, ms) => providerCalls.observe({ provider, outcome }, ms / 1000),
    emails: (provider, result, errorClass, count) => {
      if (count > 0) emails.inc({ provider, result, error_class: errorClass }, count);
    },
    failover: (from, to, reason) => failovers.inc({ from, to, reason }),
    rateLimitWait: (provider, waitMs) => {
      rateLimitWaits.inc({ provider });
      rateLimitWaitSeconds.inc({ provider }, waitMs / 1000);
    },
    batchStarted: (provider) => {
      inFlight.inc({ provider });
      const end = batchDuration.startTimer({ provider });
      return () => {
        inFlight.dec({ provider });
        end();
      };
    },
    circuitState: (provider, state) => circuit.set({ provider }, CIRCUIT_VALUE[state]),
    callback: (outcome) => callbacks.inc({ outcome }),
    deliveryEvent: (provider, kind, bounce) => deliveryEvents.inc({ provider, kind, bounce }),
  };
}
