/**
 * WORKFLOW_TYPES lists the workflow types the generic WorkflowService may start;
 * INTERNAL_WORKFLOW_TYPES those only the service itself starts. Together they are every
 * workflow of the bundle (./index.ts; a spec checks).
 */
export const WORKFLOW_TYPES: readonly string[] = ['newsletterWorkflow'];

/** INTERNAL_WORKFLOW_TYPES are started by the service's own activities, never through the API. */
export const INTERNAL_WORKFLOW_TYPES: readonly string[] = [
  'newsletterResultsWorkflow',
  'newsletterEventsWorkflow',
  'newsletterEventsCallbackWorkflow',
  'suppressionListWorkflow',
];
