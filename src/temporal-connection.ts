/**
 * How the bridge (Connection) and the worker (NativeConnection) reach Temporal: plain for a
 * local dev server, TLS or mTLS for a production cluster, TLS with an API key for Temporal
 * Cloud. Both SDK connections take the same options.
 */
import { readFileSync } from 'node:fs';
import type { Config } from './config.ts';

/** TemporalConnectionOptions are the options both Connection.connect and NativeConnection.connect take. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Uint8Array;
    clientCertPair?: { crt: Uint8Array; key: Uint8Array };
  };
  apiKey?: string;
}

/** temporalConnectionOptions reads the certificate files Config names (at connect time: a renewed one is picked up on restart). */
export function temporalConnectionOptions(temporal: Config['temporal']): TemporalConnectionOptions {
  const { tls } = temporal;
  return {
    address: temporal.address,
    ...(tls
      ? {
        tls: {
          ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
          ...(tls.caFile ? { serverRootCACertificate: readFileSync(tls.caFile) } : {}),
          ...(tls.certFile && tls.keyFile
            ? { clientCertPair: { crt: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } }
            : {}),
        },
      }
      : {}),
    ...(temporal.apiKey ? { apiKey: temporal.apiKey } : {}),
  };
}
