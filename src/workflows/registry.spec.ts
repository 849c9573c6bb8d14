import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as workflows from './index.ts';
import { WORKFLOW_TYPES } from './registry.ts';

describe('WORKFLOW_TYPES', () => {
  it('lists exactly the workflows the bundle exports', () => {
    assert.deepEqual([...WORKFLOW_TYPES].sort(), Object.keys(workflows).sort());
  });
});
