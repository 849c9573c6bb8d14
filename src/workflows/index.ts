/**
 * The workflow bundle's entry: every workflow the worker registers. Only
 * deterministic code lives under src/workflows (no Node built-ins, no I/O).
 */
export { newsletterWorkflow } from './newsletter.ts';
export { newsletterResultsWorkflow } from './results.ts';
export { newsletterEventsCallbackWorkflow, newsletterEventsWorkflow } from './events.ts';
export { suppressionListWorkflow } from './suppression.ts';
export { burstGateWorkflow } from './burst.ts';
