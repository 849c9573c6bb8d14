/**
 * TLS and mTLS on the bridge, with certificates made for the test (openssl): a client that
 * trusts the CA is served, a plaintext one is not; with GRPC_TLS_CLIENT_CA a client without
 * a certificate from that CA is refused; a renewed certificate is served without a restart,
 * on SIGHUP at once, while open streams go on; in production the bridge refuses to serve
 * plaintext beyond loopback.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ChannelCredentials } from '@grpc/grpc-js';
import { GrpcTransport } from '@protobuf-ts/grpc-transport';
import { RpcError } from '@protobuf-ts/runtime-rpc';
import { NewsletterServiceClient } from '../../contracts/gen/authentik/temporal/v1/newsletter.client.ts';
import type { BridgeTls } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { type Bridge, startBridge } from '../../src/bridge/server.ts';
import { runCli } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import { certificates } from '../support/certificates.ts';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { newsletterId, newsletterRequest, recipients, TOKEN } from '../support/fixtures.ts';
import { stop, waitUntil } from '../support/processes.ts';
import { type Stack, startBridgeProcess, startStack } from './harness.ts';

const certs = certificates('tls-test');
const file = certs.file;

describe('TLS on the bridge', { timeout: 120_000 }, () => {
  let stack: Stack;
  const bridges: Bridge[] = [];
  before(async () => {
    // Small batches, one at a time: a paused newsletter keeps some left to send.
    stack = await startStack({ NEWSLETTER_BATCH_SIZE: '2', EMAIL_CONCURRENCY_LIMIT: '1' });
    certs.ca('ca');
    certs.cert('server', 'ca');
    certs.cert('client', 'ca');
    certs.ca('other-ca');
    certs.cert('stranger', 'other-ca');
  });
  after(async () => {
    for (const b of bridges) await b.close();
    await stack?.close();
    certs.remove();
  });

  const bridgeWith = async (
    tls: BridgeTls | undefined,
    extra: { host?: string; production?: boolean; allowPlaintext?: boolean } = {},
  ) => {
    const bridge = await startBridge({
      config: {
        ...stack.config,
        production: extra.production ?? false,
        grpc: {
          limits: stack.config.grpc.limits,
          host: extra.host ?? '127.0.0.1',
          port: 0,
          reflection: false,
          allowPlaintext: extra.allowPlaintext ?? false,
          ...(tls ? { tls } : {}),
        },
      },
      client: stack.env.client,
      logger: createLogger('silent'),
      descriptorDir: new URL('../../contracts/gen/', import.meta.url),
    });
    bridges.push(bridge);
    return bridge;
  };
  /** status asks for an unknown newsletter: NOT_FOUND means the call got through TLS and auth. */
  const status = async (port: number, credentials: ChannelCredentials, host = '127.0.0.1'): Promise<string> => {
    const transport = new GrpcTransport({ host: `${host}:${port}`, channelCredentials: credentials, timeout: 5_000 });
    try {
      await new NewsletterServiceClient(transport).getNewsletterStatus({ newsletterId: 'no-such' }, stack.auth)
        .response;
      return 'OK';
    } catch (err) {
      return err instanceof RpcError ? err.code : String(err);
    } finally {
      transport.close();
    }
  };
  const trusting = (ca: string, client?: string) =>
    ChannelCredentials.createSsl(
      readFileSync(file(`${ca}.pem`)),
      client ? readFileSync(file(`${client}.key`)) : null,
      client ? readFileSync(file(`${client}.pem`)) : null,
    );

  it('serves TLS with GRPC_TLS_CERT and GRPC_TLS_KEY, and nothing in clear', async () => {
    const bridge = await bridgeWith({ certFile: file('server.pem'), keyFile: file('server.key'), reloadMs: 60_000 });
    assert.equal(await status(bridge.port, trusting('ca')), 'NOT_FOUND');
    assert.equal(await status(bridge.port, ChannelCredentials.createInsecure()), 'UNAVAILABLE');
    assert.equal(await status(bridge.port, trusting('other-ca')), 'UNAVAILABLE', 'a client that does not trust it');
  });

  it('serves TLS on an IPv6 address (GRPC_HOST=::1), as it serves plaintext there', async () => {
    const tls = { certFile: file('server.pem'), keyFile: file('server.key'), reloadMs: 60_000 };
    const bridge = await bridgeWith(tls, { host: '::1' });
    assert.equal(await status(bridge.port, trusting('ca'), '[::1]'), 'NOT_FOUND');
    const plain = await bridgeWith(undefined, { host: '::1' });
    assert.equal(await status(plain.port, ChannelCredentials.createInsecure(), '[::1]'), 'NOT_FOUND');
  });

  it('requires a client certificate from GRPC_TLS_CLIENT_CA (mTLS)', async () => {
    const bridge = await bridgeWith({
      certFile: file('server.pem'),
      keyFile: file('server.key'),
      clientCaFile: file('ca.pem'),
      reloadMs: 60_000,
    });
    assert.equal(await status(bridge.port, trusting('ca', 'client')), 'NOT_FOUND');
    assert.equal(await status(bridge.port, trusting('ca')), 'UNAVAILABLE', 'no client certificate');
    assert.equal(await status(bridge.port, trusting('ca', 'stranger')), 'UNAVAILABLE', 'a certificate from another CA');
  });

  it('lets the CLI in with --tls-ca, --tls-cert and --tls-key, or the same files from the environment (mTLS)', async () => {
    const bridge = await bridgeWith({
      certFile: file('server.pem'),
      keyFile: file('server.key'),
      clientCaFile: file('ca.pem'),
      reloadMs: 60_000,
    });
    const cli = (args: string[], env: Record<string, string> = {}) =>
      runCli(['--address', `127.0.0.1:${bridge.port}`, 'status', 'no-such', ...args], {
        INTERNAL_SERVICE_TOKEN: TOKEN,
        ...env,
      });
    // Through TLS and the token: the service answers NOT_FOUND for an unknown id (exit 3).
    const flags = await cli([
      '--tls-ca',
      file('ca.pem'),
      '--tls-cert',
      file('client.pem'),
      '--tls-key',
      file('client.key'),
    ]);
    assert.equal(flags.code, 3, flags.stderr);
    assert.match(flags.stderr, /NOT_FOUND/);
    const fromEnv = await cli([], {
      GRPC_TLS_CA: file('ca.pem'),
      GRPC_TLS_CLIENT_CERT: file('client.pem'),
      GRPC_TLS_CLIENT_KEY: file('client.key'),
    });
    assert.equal(fromEnv.code, 3, fromEnv.stderr);
    // Without a client certificate the server refuses the connection: unreachable (exit 4).
    assert.equal((await cli(['--tls-ca', file('ca.pem')])).code, 4);
  });

  it("lets the CLI in by the service's own TLS settings when it reads them from the environment (.env)", async () => {
    // A self-signed certificate, as a small deployment makes one: the CLI trusts the file the service serves.
    certs.selfSigned('own');
    const serverTls = { certFile: file('own.pem'), keyFile: file('own.key'), reloadMs: 60_000 };
    const service = { GRPC_TLS_CERT: file('own.pem'), GRPC_TLS_KEY: file('own.key') };
    const cli = (port: number, env: Record<string, string>) =>
      runCli(['status', 'no-such'], { INTERNAL_SERVICE_TOKEN: TOKEN, TEMPORAL_SERVER_PORT: String(port), ...env });
    const tls = await bridgeWith(serverTls);
    const served = await cli(tls.port, service);
    assert.equal(served.code, 3, served.stderr);
    assert.match(served.stderr, /NOT_FOUND/);
    // The service asks for client certificates: the CLI says which flags it needs before it tries.
    const mtls = await bridgeWith({ ...serverTls, clientCaFile: file('ca.pem') });
    const refused = await cli(mtls.port, { ...service, GRPC_TLS_CLIENT_CA: file('ca.pem') });
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /GRPC_TLS_CLIENT_CA.*--tls-cert and --tls-key/);
    const withClient = await cli(mtls.port, {
      ...service,
      GRPC_TLS_CLIENT_CA: file('ca.pem'),
      GRPC_TLS_CLIENT_CERT: file('client.pem'),
      GRPC_TLS_CLIENT_KEY: file('client.key'),
    });
    assert.equal(withClient.code, 3, withClient.stderr);
    assert.match(withClient.stderr, /NOT_FOUND/);
  });

  it('serves a renewed certificate without a restart', async () => {
    const bridge = await bridgeWith({ certFile: file('live.pem'), keyFile: file('live.key'), reloadMs: 1_000 }).catch(
      () => undefined,
    );
    assert.equal(bridge, undefined, 'no certificate file yet: the bridge does not start');
    writeFileSync(file('live.pem'), readFileSync(file('server.pem')));
    writeFileSync(file('live.key'), readFileSync(file('server.key')));
    const renewed = await bridgeWith({ certFile: file('live.pem'), keyFile: file('live.key'), reloadMs: 1_000 });
    assert.equal(await status(renewed.port, trusting('ca')), 'NOT_FOUND');
    // The certificate is replaced by one from another CA (a renewal that changes issuer), file by file.
    certs.cert('renewal', 'other-ca');
    renameSync(file('renewal.pem'), file('live.pem'));
    renameSync(file('renewal.key'), file('live.key'));
    await eventually(
      async () => (await status(renewed.port, trusting('other-ca'))) === 'NOT_FOUND' || undefined,
      20_000,
    );
  });

  it('re-reads the certificates on SIGHUP, at once, and open streams go on', async () => {
    certs.cert('hup', 'ca');
    // The bridge as operators run it (src/main.ts), its timer re-read far away: only SIGHUP can reload in time.
    const { bridge, port, opsPort } = await startBridgeProcess(stack, 'tls-sighup-bridge', {
      GRPC_TLS_CERT: file('hup.pem'),
      GRPC_TLS_KEY: file('hup.key'),
      GRPC_TLS_RELOAD_MS: '3600000',
    });
    const transport = new GrpcTransport({ host: `127.0.0.1:${port}`, channelCredentials: trusting('ca') });
    try {
      await waitUntil(bridge, 'readiness', async () => (await fetch(`http://127.0.0.1:${opsPort}/ready`)).ok, 60_000);
      const client = new NewsletterServiceClient(transport);
      // A newsletter held paused, watched over the first certificate's connection.
      stack.mock.resend.setLatency(1_000);
      const id = newsletterId('sighup');
      await client.sendNewsletter(newsletterRequest(id, recipients(10, 'hup-')), stack.auth).response;
      await client.pauseNewsletter({ newsletterId: id }, stack.auth).response;
      stack.mock.resend.setLatency(0);
      const watched: NewsletterState[] = [];
      const watch = (async () => {
        for await (const m of client.watchNewsletter({ newsletterId: id }, stack.auth).responses) {
          watched.push(m.status!.state);
        }
      })();

      certs.cert('hup-renewal', 'other-ca');
      renameSync(file('hup-renewal.pem'), file('hup.pem'));
      renameSync(file('hup-renewal.key'), file('hup.key'));
      assert.equal(await status(port, trusting('other-ca')), 'UNAVAILABLE', 'the old certificate until SIGHUP');
      process.kill(bridge.pid, 'SIGHUP');
      await eventually(async () => (await status(port, trusting('other-ca'))) === 'NOT_FOUND' || undefined, 10_000);
      assert.equal(bridge.exitedAs, undefined, 'SIGHUP does not stop the bridge');

      // The stream opened before the reload still carries the newsletter to its end.
      const renewed = new GrpcTransport({ host: `127.0.0.1:${port}`, channelCredentials: trusting('other-ca') });
      await new NewsletterServiceClient(renewed).resumeNewsletter({ newsletterId: id }, stack.auth).response;
      renewed.close();
      await watch;
      assert.equal(watched.at(-1), NewsletterState.COMPLETED);
      assert.ok(watched.includes(NewsletterState.PAUSED));
    } finally {
      transport.close();
      await stop(bridge);
    }
  });

  it('refuses in production to serve plaintext beyond loopback, where the token would travel in clear', async () => {
    await assert.rejects(
      bridgeWith(undefined, { host: '0.0.0.0', production: true }),
      /GRPC_HOST=0\.0\.0\.0 without GRPC_TLS_CERT.*GRPC_ALLOW_PLAINTEXT/,
    );
  });

  it('serves plaintext beyond loopback in production when told TLS is terminated in front of it (GRPC_ALLOW_PLAINTEXT)', async () => {
    const bridge = await bridgeWith(undefined, { host: '0.0.0.0', production: true, allowPlaintext: true });
    assert.equal(await status(bridge.port, ChannelCredentials.createInsecure()), 'NOT_FOUND');
  });
});
