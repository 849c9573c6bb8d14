/**
 * Metrics: every Prometheus metric of the service, in one registry, one prefix
 * (`newsletter_`), base units, bounded labels (never ids or addresses).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CircuitState } from '../providers/circuit-breaker.ts';

/** DeliveryMetrics is what activities report; an interface so tests may pass none. */
export interface DeliveryMetrics {
  providerCall(provider: string, outcome: string, durationMs: number): void;
  circuitState(provider: string, state: CircuitState): void;
  callback(outcome: 'ok' | 'retry' | 'rejected'): void;
}

/** Metrics owns the registry served at /metrics. */
export interface Metrics extends DeliveryMetrics {
  readonly registry: Registry;
  rpc(service: string, method: string, code: string, durationMs: number): void;
}

const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };

/** createMetrics builds a fresh registry with default process metrics. */
export function createMetrics(role: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });
  const providerCalls = new Histogram({
    name: 'newsletter_provider_call_duration_seconds',
    help: 'Provider API call latency by provider and outcome (ok or failure class).',
    labelNames: ['provider', 'outcome'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const circuit = new Gauge({
    name: 'newsletter_provider_circuit_state',
    help: 'Circuit breaker state per provider: 0 closed, 1 half open, 2 open.',
    labelNames: ['provider'],
    registers: [registry],
  });
  const callbacks = new Counter({
    name: 'newsletter_backend_callbacks_total',
    help: 'Backend status callback attempts by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const rpcs = new Histogram({
    name: 'newsletter_grpc_server_handling_seconds',
    help: 'gRPC server handling time by service, method and status code.',
    labelNames: ['service', 'method', 'code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    registry,
    providerCall: (provider, outcome, ms) => providerCalls.observe({ provider, outcome }, ms / 1000),
    circuitState: (provider, state) => circuit.set({ provider }, CIRCUIT_VALUE[state]),
    callback: (outcome) => callbacks.inc({ outcome }),
    rpc: (service, method, code, ms) => rpcs.observe({ service, method, code }, ms / 1000),
  };
}
