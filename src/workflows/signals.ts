/**
 * Messages between this service's workflows, in a file of their own so each workflow
 * imports them without importing the other.
 */
import { defineSignal } from '@temporalio/workflow';

/** resultsSettledSignal tells a newsletter that one owed results event is no longer owed. */
export const resultsSettledSignal = defineSignal('resultsSettled');
