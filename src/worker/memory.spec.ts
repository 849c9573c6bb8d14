import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { applyMemoryProfile } from './memory.ts';

interface Heap {
  newSpaceMb: number;
  peakTotalMb: number;
  liveMb: number;
}

/**
 * churn runs in a new thread (its own isolate, as the workflow thread is): it keeps about
 * 60 MB live while allocating ten times that, and reports its young generation's size and
 * its heap's peak against what is live at the end.
 */
function churn(): Promise<Heap> {
  const code = `
    const v8 = require('node:v8');
    const { parentPort } = require('node:worker_threads');
    const live = [];
    let peak = 0;
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 100000; i++) live.push({ n: i, s: 'recipient-' + round + '-' + i });
      if (live.length > 600000) live.splice(0, 200000);
      peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
    }
    const mb = (n) => n / 1048576;
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    parentPort.postMessage({
      newSpaceMb: mb(young.space_size),
      peakTotalMb: mb(peak),
      liveMb: mb(v8.getHeapStatistics().used_heap_size),
    });`;
  return new Promise((resolve, reject) => {
    const thread = new Worker(code, { eval: true });
    thread.once('message', (heap: Heap) => void thread.terminate().then(() => resolve(heap)));
    thread.once('error', reject);
  });
}

describe('the worker memory profile', () => {
  it('lean caps the young generation of isolates created afterwards and grows the heap less beyond what is live', async () => {
    const before = await churn();
    applyMemoryProfile('lean');
    const after = await churn();
    const seen = `V8's defaults ${JSON.stringify(before)}, lean ${JSON.stringify(after)}`;
    // 1 MB semi-spaces: V8 reports 2 MB, at times a page or two more; its default here is 128 MB.
    assert.ok(before.newSpaceMb >= 16 && after.newSpaceMb <= 8, `young generation: ${seen}`);
    // The same work peaks at under half the heap: the young generation alone would not get there.
    assert.ok(after.peakTotalMb < before.peakTotalMb / 2, `heap peak: ${seen}`);
  });
});
