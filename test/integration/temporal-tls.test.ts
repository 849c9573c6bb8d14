/**
 * TLS to Temporal: the dev server behind a TLS-terminating proxy started by the test, with
 * certificates made by openssl at test time. The bridge's Connection and the worker's
 * NativeConnection, built from the TEMPORAL_TLS_* variables, reach it over TLS and mTLS;
 * without the CA, or without a client certificate where one is required, they do not; and the
 * service's own processes, started as operators start them, send a newsletter through it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { createServer, type Server } from 'node:tls';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../src/config.ts';
import { temporalConnectionOptions } from '../../src/temporal-connection.ts';
import { certificates } from '../support/certificates.ts';
import { randomUUID } from 'node:crypto';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { newsletterId, newsletterRequest, recipients } from '../support/fixtures.ts';
import { connectClients, finalStatus } from '../support/grpc.ts';
import { stop, waitUntil } from '../support/processes.ts';
import { type Stack, startBridgeProcess, startStack, startWorkerProcess } from './harness.ts';

const certs = certificates('temporal-tls');
const file = certs.file;

/** tlsProxy terminates TLS (mTLS when requireClientCert) and forwards the bytes to target. */
async function tlsProxy(target: string, requireClientCert: boolean): Promise<{ address: string; server: Server }> {
  const [host, port] = target.split(':');
  const server = createServer({
    key: readFileSync(file('server.key')),
    cert: readFileSync(file('server.pem')),
    ca: readFileSync(file('ca.pem')),
    requestCert: requireClientCert,
    rejectUnauthorized: requireClientCert,
    ALPNProtocols: ['h2'],
  }, (socket) => {
    const upstream = tcpConnect(Number(port), host!);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { address: `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, server };
}

describe('TLS to Temporal', { timeout: 120_000 }, () => {
  let stack: Stack;
  const servers: Server[] = [];
  before(async () => {
    stack = await startStack();
    certs.ca('ca');
    certs.cert('server', 'ca');
    certs.cert('client', 'ca');
  });
  after(async () => {
    for (const s of servers) s.close();
    await stack?.close();
    certs.remove();
  });

  /** reaches says whether both SDK connections, built from these variables, get an answer from Temporal. */
  const reaches = async (env: Record<string, string>): Promise<{ client: boolean; worker: boolean }> => {
    const options = temporalConnectionOptions(loadConfig(env).temporal);
    /** answers is whether a connection opens and Temporal answers on it. */
    const answers = async (
      open: Promise<{ workflowService: Connection['workflowService']; close(): Promise<void> }>,
    ) => {
      const connection = await open.catch(() => undefined);
      if (!connection) return false;
      try {
        await connection.workflowService.getSystemInfo({});
        return true;
      } catch {
        return false;
      } finally {
        await connection.close();
      }
    };
    const client = await answers(Connection.connect({ ...options, connectTimeout: '3s' }));
    const worker = await answers(NativeConnection.connect(options));
    return { client, worker };
  };

  /** behindProxy is Temporal behind a TLS proxy (mTLS when asked), and the settings that trust it. */
  const behindProxy = async (requireClientCert: boolean) => {
    const proxy = await tlsProxy(stack.env.address, requireClientCert);
    servers.push(proxy.server);
    return {
      TEMPORAL_ADDRESS: proxy.address,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
      TEMPORAL_TLS_CA: file('ca.pem'),
    };
  };
  const clientCertificate = () => ({ TEMPORAL_TLS_CERT: file('client.pem'), TEMPORAL_TLS_KEY: file('client.key') });

  it('connects the bridge and the worker over TLS with TEMPORAL_TLS_CA and TEMPORAL_TLS_SERVER_NAME', async () => {
    const tls = await behindProxy(false);
    assert.deepEqual(await reaches(tls), { client: true, worker: true });
    assert.deepEqual(
      await reaches({ TEMPORAL_ADDRESS: tls.TEMPORAL_ADDRESS }),
      { client: false, worker: false },
      'plaintext',
    );
  });

  it('connects over mTLS with TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY, and not without them', async () => {
    const tls = await behindProxy(true);
    assert.deepEqual(await reaches({ ...tls, ...clientCertificate() }), { client: true, worker: true });
    assert.deepEqual(await reaches(tls), { client: false, worker: false }, 'no client certificate');
  });

  it('runs the service as operators do (src/main.ts, a bridge and a worker process) against Temporal behind mTLS: a newsletter completes', async () => {
    const env = {
      ...await behindProxy(true),
      ...clientCertificate(),
      // A task queue of their own: only these processes can send the newsletter.
      TEMPORAL_TASK_QUEUE: `tls-${randomUUID()}`,
    };
    const worker = await startWorkerProcess(stack, env);
    const { bridge, port, opsPort } = await startBridgeProcess(stack, 'temporal-tls-bridge', env);
    const clients = connectClients(port);
    try {
      await waitUntil(
        bridge,
        'readiness',
        async () => (await fetch(`http://127.0.0.1:${opsPort}/ready`)).status === 200,
      );
      const id = newsletterId('temporal-tls');
      await clients.newsletters.sendNewsletter(newsletterRequest(id, recipients(5, 'ttls-')), stack.auth).response;
      const final = await finalStatus(clients, id, 60_000);
      assert.deepEqual([final.state, final.sent], [NewsletterState.COMPLETED, 5]);
    } finally {
      clients.close();
      await stop(bridge);
      await worker.stop();
    }
  });
});
