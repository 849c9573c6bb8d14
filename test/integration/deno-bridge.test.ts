/**
 * The bridge role on Deno 2: `deno task bridge` (gRPC server + Temporal client, from the
 * same sources as on Node) against a real Temporal dev server, with the stack's Node worker
 * delivering. A newsletter sent to the Deno bridge completes, every email once at the mock.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { auth, newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { type Clients, connectClients, finalStatus } from '../support/grpc.ts';
import { freePort } from '../support/ports.ts';
import { type Child, logText, start, stop, waitUntil } from '../support/processes.ts';
import { type Stack, startStack } from './harness.ts';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('the bridge on Deno', { timeout: 180_000 }, () => {
  let stack: Stack;
  let bridge: Child;
  let clients: Clients;
  before(async () => {
    stack = await startStack();
    const port = await freePort();
    bridge = start('deno-bridge', join(root, 'node_modules/.bin/deno'), ['task', 'bridge'], {
      logDir: join(tmpdir(), 'deno-bridge'),
      env: {
        ...stack.serviceEnv,
        TEMPORAL_ADDRESS: stack.env.address,
        TEMPORAL_SERVER_PORT: String(port),
        BRIDGE_OPS_PORT: String(await freePort()),
        WEBHOOK_PORT: String(await freePort()),
        LOG_LEVEL: 'info',
        NO_COLOR: '1',
      },
    });
    await waitUntil(bridge, 'gRPC bridge listening', () => logText(bridge).includes('gRPC bridge listening'), 60_000);
    clients = connectClients(port);
  });
  after(async () => {
    clients?.close();
    if (bridge) await stop(bridge);
    await stack?.close();
  });

  it('runs under Deno and takes a newsletter that the Node worker delivers, each email once', async () => {
    const id = newsletterId('deno');
    const list = recipients(25, 'deno');
    const { response } = await clients.newsletters.sendNewsletter(newsletterRequest(id, list), auth);
    assert.equal(response.workflowId, `newsletter-${id}`);
    const status = await finalStatus(clients, id);
    assert.equal(status.state, NewsletterState.COMPLETED);
    assert.equal(status.sent, 25);
    const to = stack.mock.resend.received().filter((e) => e.to[0]!.startsWith('deno')).map((e) => e.to[0]);
    assert.deepEqual([...to].sort(), list.map((r) => r.email).sort());
    assert.match(logText(bridge), /"runtime":"deno/, 'the bridge says it runs on Deno');
  });
});
