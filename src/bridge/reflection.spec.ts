// Run from the project root, as make test does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { splitFileDescriptorSet } from './reflection.ts';

describe('splitFileDescriptorSet', () => {
  it('returns every file of the committed descriptor set, imports included', () => {
    const files = splitFileDescriptorSet(readFileSync('contracts/gen/descriptors.binpb'));
    const names = files.map((f) => f.toString('latin1'));
    for (
      const name of [
        'authentik/temporal/v1/newsletter.proto',
        'authentik/temporal/v1/workflow.proto',
        'google/protobuf/timestamp.proto',
      ]
    ) {
      assert.ok(names.some((n) => n.includes(name)), `${name} missing`);
    }
    assert.equal(files.length, 3);
  });
});
