/**
 * One plaintext port for gRPC and HTTP/1.1, so `curl http://localhost:50051/health` answers
 * on the gRPC port as well as on the ops port. The first bytes of a connection tell the two
 * apart: gRPC over cleartext always opens with HTTP/2's connection preface ("PRI * HTTP/2.0"),
 * which no HTTP/1.1 request starts with. HTTP/2 connections are handed to grpc-js through
 * its connection injector (the same server, interceptors and shutdown as a bound port);
 * the others go to a small HTTP/1.1 server.
 */
import { Buffer } from 'node:buffer';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { type Server as GrpcServer, ServerCredentials } from '@grpc/grpc-js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');

/**
 * SharedPort is the listening port. drain asks its gRPC connections to finish (GOAWAY) and ends
 * those still open after graceMs: grpc-js's own shutdown neither waits for nor ends injected
 * connections. close stops taking connections, ends the HTTP/1.1 ones and resolves once every
 * connection is gone.
 */
export interface SharedPort {
  port: number;
  drain(graceMs: number): void;
  close(): Promise<void>;
}

/**
 * listenShared listens on host:port; HTTP/2 connections go to grpc (plaintext: TLS ports are
 * bound by grpc-js itself), HTTP/1.1 ones to http1. A connection that says nothing within
 * idleMs (an HTTP/1.1 one between requests too), or that closes before it can be told apart,
 * is closed.
 */
export async function listenShared(
  grpc: GrpcServer,
  host: string,
  port: number,
  http1: RequestListener,
  idleMs = 10_000,
): Promise<SharedPort> {
  const injector = grpc.createConnectionInjector(ServerCredentials.createInsecure());
  const web = createHttpServer(http1);
  // Between requests Node times a keep-alive connection out by this instead (its own 5 s); when a
  // request follows that wait it sets the socket's idle timeout to web.timeout (0: none), clearing
  // the one set below, so a request that stops halfway would hold its connection for ever. (A
  // handler silent for idleMs loses its connection too: the probes answer at once.)
  web.keepAliveTimeout = idleMs;
  web.timeout = idleMs;
  // The HTTP/1.1 server never listens (it is handed its connections), so Node tracks none of them:
  // neither its header timeout nor closeAllConnections() reach them. Kept here, ended at close (a
  // keep-alive client or a half-sent request would otherwise hold shutdown up for ever), and ended
  // when idle for idleMs.
  const http1Sockets = new Set<Socket>();
  const sniff = (socket: Socket) => {
    let seen = Buffer.alloc(0);
    socket.setTimeout(idleMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const http2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (http2 && n < PREFACE.length) return; // a prefix of the preface so far: wait for more
      socket.off('data', onData);
      socket.pause();
      socket.setTimeout(0);
      socket.unshift(seen);
      if (http2) injector.injectConnection(socket);
      else {
        http1Sockets.add(socket);
        socket.once('close', () => http1Sockets.delete(socket));
        socket.setTimeout(idleMs, () => socket.destroy());
        web.emit('connection', socket);
        socket.resume(); // the HTTP/1.1 parser reads through 'data' events, which a paused socket holds back
      }
    };
    socket.on('data', onData);
  };
  const listener = createNetServer(sniff);
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(port, host, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  const address = listener.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    drain: (graceMs) => injector.drain(graceMs),
    close: () =>
      new Promise<void>((resolve) => {
        listener.close(() => resolve());
        for (const socket of http1Sockets) socket.destroy();
      }),
  };
}
