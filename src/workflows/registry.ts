/**
 * WORKFLOW_TYPES lists the workflow types the worker registers; the generic
 * WorkflowService starts only these. Keep in step with ./index.ts (a test checks).
 */
export const WORKFLOW_TYPES: readonly string[] = ['newsletterWorkflow'];
