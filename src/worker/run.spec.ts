import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { watchWorkers } from './run.ts';

const quiet = { fatal: () => {} };
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('watchWorkers', () => {
  it('stops the process when the workers end by themselves, whether they fail or just stop', async () => {
    for (const running of [Promise.reject(new Error('namespace gone')), Promise.resolve()]) {
      let stopped = 0;
      watchWorkers(running, () => false, () => stopped++, quiet);
      await settle();
      assert.equal(stopped, 1);
    }
  });

  it('leaves a shutdown it asked for alone', async () => {
    let stopped = 0;
    watchWorkers(Promise.resolve(), () => true, () => stopped++, quiet);
    watchWorkers(Promise.reject(new Error('cut short')), () => true, () => stopped++, quiet);
    await settle();
    assert.equal(stopped, 0);
  });
});
