/**
 * Mock Resend and Postmark servers that the official SDKs cannot tell from the real APIs,
 * with faults, latency, rate limits, failing addresses and idempotency to exercise the
 * sender's retry and failover paths. Each provider listens on its own port and also serves
 * a /__mock control API there.
 */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProviderServer } from './http.ts';
import { createPostmarkHandler } from './postmark.ts';
import { createResendHandler } from './resend.ts';
import { ProviderState } from './state.ts';
import type { MockProviders, MockProvidersOptions } from './types.ts';

export type {
  CallRecord,
  Fault,
  MockProviderControl,
  MockProviderName,
  MockProviders,
  MockProvidersOptions,
  MockStats,
  ReceivedEmail,
} from './types.ts';

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function shutdown(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      server.closeAllConnections();
      resolve();
      return;
    }
    // close() alone waits for keep-alive sockets and in-flight requests; dropping them makes close() prompt.
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function baseUrl(server: Server): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

function checkPort(name: string, port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${name} must be an integer between 0 and 65535`);
  }
  return port;
}

/** startMockProviders starts the Resend and Postmark mocks and resolves once both listen. */
export async function startMockProviders(options: MockProvidersOptions = {}): Promise<MockProviders> {
  const host = options.host ?? '127.0.0.1';
  const resendPort = checkPort('resendPort', options.resendPort ?? 0);
  const postmarkPort = checkPort('postmarkPort', options.postmarkPort ?? 0);
  if (options.postmarkServerToken !== undefined && options.postmarkServerToken.trim() === '') {
    throw new RangeError('postmarkServerToken must not be empty when set');
  }
  const aborter = new AbortController();
  const keep = { keepBodies: options.keepBodies ?? true };
  const resend = new ProviderState('resend', Date.now, keep);
  const postmark = new ProviderState('postmark', Date.now, keep);
  const resendServer = createProviderServer(resend, createResendHandler(resend), aborter.signal);
  const postmarkServer = createProviderServer(
    postmark,
    createPostmarkHandler(postmark, options.postmarkServerToken?.trim()),
    aborter.signal,
  );
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // Aborting first ends latency waits, so in-flight handlers settle instead of writing to closed sockets.
      aborter.abort();
      await Promise.all([shutdown(resendServer), shutdown(postmarkServer)]);
    })();
    return closing;
  };
  try {
    await listen(resendServer, host, resendPort);
    await listen(postmarkServer, host, postmarkPort);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    resendUrl: baseUrl(resendServer),
    postmarkUrl: baseUrl(postmarkServer),
    resend,
    postmark,
    close,
  };
}
