import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Server } from '@grpc/grpc-js';
import { listenShared } from './shared-port.ts';

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise.then(() => 'done'), new Promise((resolve) => setTimeout(() => resolve('pending'), ms))]);

describe('listenShared', () => {
  it('closes with an HTTP/1.1 client still connected: one halfway through its request, one keeping its connection alive', async () => {
    const shared = await listenShared(new Server(), '127.0.0.1', 0, (_req, res) => res.end('ok'));
    const half = connect(shared.port, '127.0.0.1');
    const alive = connect(shared.port, '127.0.0.1');
    half.on('error', () => {});
    alive.on('error', () => {});
    await Promise.all([half, alive].map((s) => new Promise((resolve) => s.once('connect', resolve))));
    half.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    alive.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    await new Promise((resolve) => alive.once('data', resolve));
    assert.equal(await within(shared.close(), 2_000), 'done', 'shutdown does not wait on them');
    half.destroy();
    alive.destroy();
  });

  it('closes a connection that says nothing, and an HTTP/1.1 one idle between requests, once they have been idle that long', async () => {
    const shared = await listenShared(new Server(), '127.0.0.1', 0, (_req, res) => res.end('ok'), 300);
    try {
      const silent = connect(shared.port, '127.0.0.1');
      const alive = connect(shared.port, '127.0.0.1');
      silent.on('error', () => {});
      alive.on('error', () => {});
      const closed = [silent, alive].map((s) => new Promise((resolve) => s.once('close', resolve)));
      await Promise.all([silent, alive].map((s) => new Promise((resolve) => s.once('connect', resolve))));
      alive.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
      const answer = await new Promise<string>((resolve) => alive.once('data', (chunk) => resolve(String(chunk))));
      assert.match(answer, /^HTTP\/1\.1 200/);
      assert.deepEqual(await Promise.all(closed.map((c) => within(c, 3_000))), ['done', 'done']);
    } finally {
      await shared.close();
    }
  });

  it('closes a keep-alive connection that goes quiet halfway through its next request once idle that long', async () => {
    const shared = await listenShared(
      new Server(),
      '127.0.0.1',
      0,
      (req, res) => req.resume().on('end', () => res.end('ok')),
      300,
    );
    try {
      const client = connect(shared.port, '127.0.0.1');
      client.on('error', () => {});
      const closed = new Promise((resolve) => client.once('close', resolve));
      await new Promise((resolve) => client.once('connect', resolve));
      client.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
      const answer = await new Promise<string>((resolve) => client.once('data', (chunk) => resolve(String(chunk))));
      assert.match(answer, /^HTTP\/1\.1 200/);
      // Headers of a second request that promise a body which never comes: Node clears a socket's
      // timeout as each request begins, which left this connection open for ever.
      client.write('POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf');
      assert.equal(await within(closed, 3_000), 'done');
    } finally {
      await shared.close();
    }
  });
});
