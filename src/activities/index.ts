/**
 * Activities: every side effect of a newsletter. Built by one factory from their
 * dependencies; the workflows import only the type of what it returns.
 */
import { createCallbackActivities } from './callbacks.ts';
import { createPageActivities } from './pages.ts';
import { createRateActivities, type RateDeps } from './rate.ts';
import { createDeliveryActivities, type DeliveryDeps } from './send-batch.ts';

/** ActivityDeps gathers the dependencies of every activity. */
export type ActivityDeps = DeliveryDeps & RateDeps;

/** createActivities builds the activity implementations registered with the workers. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDeliveryActivities(deps),
    ...createPageActivities(deps),
    ...createCallbackActivities(deps.callbacks),
    ...createRateActivities(deps),
  };
}

/** Activities is the activity interface the workflows proxy. */
export type Activities = ReturnType<typeof createActivities>;
