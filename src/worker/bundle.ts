/**
 * Builds the workflow bundle once, at `npm run build` (`node dist/src/worker/bundle.js`),
 * into `dist/workflow-bundle.js`. A worker started from `dist/` loads it instead of running
 * webpack at start-up, which costs time and leaves a few hundred MB of memory behind.
 * Run from source (`make dev`, the tests), the worker bundles at start as before.
 */
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../telemetry/temporal-tracing.ts';
import { prebuiltBundlePath, workflowsPath } from './worker.ts';

const { code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES });
writeFileSync(prebuiltBundlePath, code);
console.log(`workflow bundle: ${prebuiltBundlePath} (${Math.round(code.length / 1024)} KiB)`);
