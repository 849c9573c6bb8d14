import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as workflows from './index.ts';
import { INTERNAL_WORKFLOW_TYPES, WORKFLOW_TYPES } from './registry.ts';

describe('WORKFLOW_TYPES', () => {
  it('with the internal workflows, lists exactly the workflows the bundle exports', () => {
    assert.deepEqual([...WORKFLOW_TYPES, ...INTERNAL_WORKFLOW_TYPES].sort(), Object.keys(workflows).sort());
  });

  it('never lets the generic WorkflowService start an internal workflow', () => {
    assert.ok(INTERNAL_WORKFLOW_TYPES.every((type) => !WORKFLOW_TYPES.includes(type)));
  });
});
