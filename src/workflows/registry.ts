/**
 * WORKFLOW_TYPES lists the workflow types the generic WorkflowService may start;
 * INTERNAL_WORKFLOW_TYPES those only the service itself starts. Together they are every
 * workflow of the bundle (./index.ts; a spec checks).
 */
export const WORKFLOW_TYPES: readonly string[] = ['newsletterWorkflow'];

/**
 * WORKFLOW_SIGNALS are the signals each type of WORKFLOW_TYPES takes from callers, and what changes
 * one instead: a signal no handler takes would be answered OK and do nothing.
 */
export const WORKFLOW_SIGNALS: Readonly<Record<string, { signals: readonly string[]; instead: string }>> = {
  newsletterWorkflow: {
    signals: [],
    instead:
      'NewsletterService PauseNewsletter, ResumeNewsletter, CancelNewsletter and RescheduleNewsletter change one',
  },
};

/** INTERNAL_WORKFLOW_TYPES are started by the service's own activities, never through the API. */
export const INTERNAL_WORKFLOW_TYPES: readonly string[] = [
  'newsletterResultsWorkflow',
  'newsletterEventsWorkflow',
  'newsletterEventsCallbackWorkflow',
  'suppressionListWorkflow',
  'burstGateWorkflow',
];
