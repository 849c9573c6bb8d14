/**
 * Bearer-token authentication of the bridge's RPCs (health and reflection stay open).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ServerInterceptingCall, type ServerInterceptor, status as GrpcStatus } from '@grpc/grpc-js';
import { toRpcStatus, UnauthenticatedError } from './errors.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** sameSecret compares fixed-length digests in constant time: neither length nor content leaks through timing. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** createAuthenticator returns a check of the `authorization` metadata; with no token configured every call passes. */
export function createAuthenticator(token: string | undefined): (authorization: string | string[] | undefined) => void {
  if (!token) return () => {};
  const expected = digest(token);
  return (authorization) => {
    const header = Array.isArray(authorization) ? authorization[0] : authorization;
    const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
    if (!match) throw new UnauthenticatedError('missing authorization metadata: expected "Bearer <token>"');
    // Compare fixed-length digests in constant time: neither length nor content leaks through timing.
    if (!timingSafeEqual(digest(match[1]!.trim()), expected)) throw new UnauthenticatedError('invalid token');
  };
}

/**
 * authenticateFirst refuses a call to one of services without a valid token as soon as its
 * metadata arrives: before its message (up to 24 MB) is read and parsed, and before it takes a
 * watch stream's place. edge() checks each call again; this is the early door.
 */
export function authenticateFirst(
  token: string | undefined,
  services: readonly string[],
  /** onRefused hears each call refused here (its path and the detail it was told), for metrics and logs. */
  onRefused: (path: string, detail: string) => void = () => {},
): ServerInterceptor {
  const authenticate = createAuthenticator(token);
  return (method, call) => {
    if (!token || !services.some((service) => method.path.startsWith(`/${service}/`))) {
      return new ServerInterceptingCall(call);
    }
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            try {
              authenticate(metadata.get('authorization').map(String));
            } catch (err) {
              const refused = toRpcStatus(err);
              onRefused(method.path, refused.detail);
              call.sendStatus({ code: GrpcStatus[refused.code], details: refused.detail });
              return;
            }
            nextMetadata(metadata);
          },
        });
      },
    });
  };
}
