/**
 * Activities: every side effect of a newsletter. Built by one factory from their
 * dependencies; the workflow imports only the type of what it returns.
 */
import { type CallbackDeps, createCallbackActivities } from './callbacks.ts';
import { createDeliveryActivities, type DeliveryDeps } from './send-batch.ts';

/** ActivityDeps gathers the dependencies of every activity. */
export type ActivityDeps = DeliveryDeps & CallbackDeps;

/** createActivities builds the activity implementations registered with the worker. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDeliveryActivities(deps),
    ...createCallbackActivities(deps),
  };
}

/** Activities is the activity interface the workflow proxies. */
export type Activities = ReturnType<typeof createActivities>;
