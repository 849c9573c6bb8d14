import { describe, it, mock } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.ts';

function breaker(threshold = 3, cooldownMs = 1000) {
  let now = 0;
  const states: CircuitState[] = [];
  const b = new CircuitBreaker({
    failureThreshold: threshold,
    cooldownMs,
    now: () => now,
    onStateChange: (s) => states.push(s),
  });
  return { b, states, advance: (ms: number) => (now += ms) };
}

describe('CircuitBreaker', () => {
  it('times its cooldown on a clock that never goes back: a wall clock set back does not hold it open', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.parse('2026-11-27T12:00:00Z') });
    try {
      const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 20 });
      b.recordFailure();
      assert.equal(b.tryAcquire(), false);
      mock.timers.setTime(Date.parse('2026-11-27T11:00:00Z'));
      await sleep(40);
      assert.equal(b.tryAcquire(), true, 'the probe goes out once the cooldown has passed');
    } finally {
      mock.timers.reset();
    }
  });

  it('opens after the threshold of consecutive failures and refuses calls', () => {
    const { b, states } = breaker(3);
    b.recordFailure();
    b.recordFailure();
    assert.equal(b.tryAcquire(), true);
    b.recordFailure();
    assert.equal(b.state, 'open');
    assert.equal(b.tryAcquire(), false);
    assert.deepEqual(states, ['open']);
  });

  it('resets the count on success', () => {
    const { b } = breaker(2);
    b.recordFailure();
    b.recordSuccess();
    b.recordFailure();
    assert.equal(b.state, 'closed');
  });

  it('lets one probe through after the cooldown and closes when it succeeds', () => {
    const { b, states, advance } = breaker(1, 1000);
    b.recordFailure();
    advance(999);
    assert.equal(b.tryAcquire(), false);
    advance(1);
    assert.equal(b.tryAcquire(), true, 'the probe');
    assert.equal(b.tryAcquire(), false, 'only one probe at a time');
    b.recordSuccess();
    assert.equal(b.state, 'closed');
    assert.deepEqual(states, ['open', 'half_open', 'closed']);
  });

  it('reopens at once when the probe fails', () => {
    const { b, advance } = breaker(5, 1000);
    for (let i = 0; i < 5; i++) b.recordFailure();
    advance(1000);
    assert.equal(b.tryAcquire(), true);
    b.recordFailure();
    assert.equal(b.state, 'open');
    advance(500);
    assert.equal(b.tryAcquire(), false);
  });

  it('frees the probe slot when the probe says nothing about health', () => {
    const { b, advance } = breaker(1, 10);
    b.recordFailure();
    advance(10);
    assert.equal(b.tryAcquire(), true);
    b.release();
    assert.equal(b.tryAcquire(), true);
  });
});

describe('CircuitBreaker reporting', () => {
  it('reports half_open once the cooldown has passed, even when nothing asks it (an alert on open must clear)', async () => {
    const states: string[] = [];
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 20, onStateChange: (s) => states.push(s) });
    breaker.recordFailure();
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(states, ['open', 'half_open']);
  });
});
