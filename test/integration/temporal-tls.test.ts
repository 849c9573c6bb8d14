/**
 * TLS to Temporal: the dev server behind a TLS-terminating proxy started by the test, with
 * certificates made by openssl at test time. The bridge's Connection and the worker's
 * NativeConnection, built from the TEMPORAL_TLS_* variables, reach it over TLS and mTLS;
 * without the CA, or without a client certificate where one is required, they do not.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../src/config.ts';
import { temporalConnectionOptions } from '../../src/temporal-connection.ts';
import { type Stack, startStack } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'temporal-tls-'));
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });

function makeCa(name: string): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    file(`${name}.key`),
    '-out',
    file(`${name}.pem`),
  );
}
function makeCert(name: string, ca: string): void {
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    file(`${name}.key`),
    '-out',
    file(`${name}.csr`),
  );
  writeFileSync(file(`${name}.ext`), 'subjectAltName=DNS:temporal.test,IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    file(`${name}.csr`),
    '-CA',
    file(`${ca}.pem`),
    '-CAkey',
    file(`${ca}.key`),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    file(`${name}.ext`),
    '-out',
    file(`${name}.pem`),
  );
}

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
    makeCa('ca');
    makeCert('server', 'ca');
    makeCert('client', 'ca');
  });
  after(async () => {
    for (const s of servers) s.close();
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** reaches says whether both SDK connections, built from these variables, get an answer from Temporal. */
  const reaches = async (env: Record<string, string>): Promise<{ client: boolean; worker: boolean }> => {
    const options = temporalConnectionOptions(loadConfig(env).temporal);
    const client = await Connection.connect({ ...options, connectTimeout: '3s' }).then(async (c) => {
      try {
        await c.workflowService.getSystemInfo({});
        return true;
      } finally {
        await c.close();
      }
    }, () => false);
    const worker = await NativeConnection.connect(options).then(async (c) => {
      try {
        await c.workflowService.getSystemInfo({});
        return true;
      } finally {
        await c.close();
      }
    }, () => false);
    return { client, worker };
  };

  it('connects the bridge and the worker over TLS with TEMPORAL_TLS_CA and TEMPORAL_TLS_SERVER_NAME', async () => {
    const proxy = await tlsProxy(stack.env.address, false);
    servers.push(proxy.server);
    const tls = { TEMPORAL_ADDRESS: proxy.address, TEMPORAL_TLS_SERVER_NAME: 'temporal.test' };
    assert.deepEqual(await reaches({ ...tls, TEMPORAL_TLS_CA: file('ca.pem') }), { client: true, worker: true });
    assert.deepEqual(await reaches({ TEMPORAL_ADDRESS: proxy.address }), { client: false, worker: false }, 'plaintext');
  });

  it('connects over mTLS with TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY, and not without them', async () => {
    const proxy = await tlsProxy(stack.env.address, true);
    servers.push(proxy.server);
    const tls = {
      TEMPORAL_ADDRESS: proxy.address,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
      TEMPORAL_TLS_CA: file('ca.pem'),
    };
    assert.deepEqual(
      await reaches({ ...tls, TEMPORAL_TLS_CERT: file('client.pem'), TEMPORAL_TLS_KEY: file('client.key') }),
      { client: true, worker: true },
    );
    assert.deepEqual(await reaches(tls), { client: false, worker: false }, 'no client certificate');
  });
});
