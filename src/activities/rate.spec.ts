import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRateActivities, type ProviderQueues } from './rate.ts';

/** A fake pair of queues: what the server describes, whether the gate is free, and the claims made. */
function activities(described: { backlog: number; rate?: number }, gateFree = true) {
  const claims: string[] = [];
  const providerQueues: ProviderQueues = {
    describe: () => Promise.resolve(described),
    claimDrain: (provider, newsletterId) => {
      claims.push(`${provider}:${newsletterId}`);
      return Promise.resolve(gateFree);
    },
  };
  return { claims, ...createRateActivities({ queueRates: { resend: 1.94, postmark: 9.7 }, providerQueues }) };
}

describe('providerQueue', () => {
  it('has an idle queue drained by the newsletter that claims it, at the rate its workers set', async () => {
    const a = activities({ backlog: 0 });
    assert.deepEqual(await a.providerQueue({ provider: 'postmark', maxRate: 99, newsletterId: 'nl1' }), {
      rate: 9.7,
      drain: true,
    });
    assert.deepEqual(a.claims, ['postmark:nl1'], 'claimed for the newsletter asking');
  });

  it('drains no queue with tasks waiting on it (they spend what it saved up), without claiming it', async () => {
    const a = activities({ backlog: 12 });
    assert.deepEqual(await a.providerQueue({ provider: 'resend', maxRate: 99, newsletterId: 'nl1' }), {
      rate: 1.94,
      drain: false,
    });
    assert.deepEqual(a.claims, []);
  });

  it('leaves the drain to the newsletter that claimed it moments ago', async () => {
    const a = activities({ backlog: 0 }, false);
    assert.deepEqual(await a.providerQueue({ provider: 'resend', maxRate: 99, newsletterId: 'nl1' }), {
      rate: 1.94,
      drain: false,
    });
  });

  it("answers the server's rate where an operator overrode the workers', and claims no queue too fast to drain", async () => {
    const a = activities({ backlog: 0, rate: 500 });
    assert.deepEqual(await a.providerQueue({ provider: 'resend', maxRate: 99, newsletterId: 'nl1' }), {
      rate: 500,
      drain: false,
    });
    assert.deepEqual(a.claims, []);
  });
});
