/**
 * The HTTP contracts between authentik-temporal-server and the Authentik backend: the wire
 * types of every request the service makes (backend.openapi.yaml) and the X-Signature
 * verifier for the backend.
 */
export type * from './backend.ts';
export * from './signature.ts';
