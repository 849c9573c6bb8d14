/**
 * HTTP plumbing shared by both mock providers: body reading, JSON answers, latency, call
 * recording and routing between the provider's send endpoints and the /__mock control API.
 */

import console from 'node:console';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { handleControl } from './control.ts';
import type { ProviderState } from './state.ts';

/** MAX_BODY_BYTES mirrors Postmark's 50 MB request limit; a handler may set a lower one (Resend: 40 MB). */
export const MAX_BODY_BYTES = 50 * 1024 * 1024;

/** HttpAnswer is a JSON response about to be written. */
export interface HttpAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** SendRequest is a buffered request to a provider's send endpoint. */
export interface SendRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** delay waits out the configured latency once; later calls return at once. */
  delay: () => Promise<void>;
}

/** SendOutcome is a provider's answer to a send call plus what the call log needs. */
export interface SendOutcome {
  answer: HttpAnswer;
  messages: number;
  idempotencyKey?: string;
}

/** ReadRequest is a GET to a provider endpoint that sends nothing. */
export interface ReadRequest {
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

/** ProviderHandler is the provider-specific half of a mock server. */
export interface ProviderHandler {
  isSendPath(path: string): boolean;
  /** maxBodyBytes is the provider's request size limit (413 above it); MAX_BODY_BYTES when unset. */
  maxBodyBytes?: number;
  /** handleRead answers a read-only endpoint (e.g. Postmark's message search), or undefined when path is not one. */
  handleRead?(request: ReadRequest): HttpAnswer | undefined;
  handleSend(request: SendRequest): Promise<SendOutcome>;
  /** errorAnswer renders a generic error in the provider's own error shape. */
  errorAnswer(status: number, message: string): HttpAnswer;
}

class BodyTooLargeError extends Error {}

/** headerValue returns a request header as one string (the first one when repeated), or undefined. */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** parseJson parses a body, telling an empty or malformed body apart from a parsed value. */
export function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

/** stableStringify serializes JSON with sorted object keys, so equal payloads fingerprint equally whatever their key order. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function readBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new BodyTooLargeError('request body too large'));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    // 'close' without 'end' means the client went away mid-body ('aborted' is deprecated).
    req.on('close', () => {
      if (!req.complete) reject(new Error('request aborted'));
    });
  });
}

/** writeJson writes an answer as JSON with an exact content-length, so keep-alive clients never wait for more. */
export function writeJson(res: ServerResponse, answer: HttpAnswer): void {
  const text = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...answer.headers,
  });
  res.end(text);
}

/** createProviderServer builds (without listening) the HTTP server of one mock provider; aborting `signal` cancels pending latency waits. */
export function createProviderServer(state: ProviderState, handler: ProviderHandler, signal: AbortSignal): Server {
  return createServer((req, res) => {
    void route(state, handler, signal, req, res);
  });
}

async function route(
  state: ProviderState,
  handler: ProviderHandler,
  signal: AbortSignal,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://mock.invalid');
  const path = url.pathname;
  const at = new Date().toISOString();
  try {
    if (path === '/__mock' || path.startsWith('/__mock/')) {
      writeJson(res, await handleControl(state, method, path, url.searchParams, await readBody(req)));
      return;
    }
    const read = method === 'GET'
      ? handler.handleRead?.({ path, query: url.searchParams, headers: req.headers })
      : undefined;
    if (read) {
      writeJson(res, read);
      return;
    }
    if (!handler.isSendPath(path)) {
      writeJson(res, handler.errorAnswer(404, `The requested endpoint ${method} ${path} does not exist.`));
      return;
    }
    if (method !== 'POST') {
      writeJson(res, handler.errorAnswer(405, `Method ${method} is not allowed on ${path}.`));
      return;
    }
    let delayed = false;
    const delay = async (): Promise<void> => {
      if (delayed) return;
      delayed = true;
      if (state.latencyMs > 0) await sleep(state.latencyMs, undefined, { signal });
    };
    let outcome: SendOutcome;
    try {
      outcome = await handler.handleSend({
        method,
        path,
        headers: req.headers,
        body: await readBody(req, handler.maxBodyBytes),
        delay,
      });
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      outcome = { answer: handler.errorAnswer(413, 'The request body is too large.'), messages: 0 };
    }
    // "Every send response" is delayed, including early errors that never reached the handler's own delay.
    await delay();
    const call = {
      provider: state.provider,
      method,
      path,
      status: outcome.answer.status,
      messages: outcome.messages,
      at,
      ...(outcome.idempotencyKey === undefined ? {} : { idempotencyKey: outcome.idempotencyKey }),
    };
    // Recorded before writing, so a client that has its response always finds the call logged.
    state.recordCall(call);
    writeJson(res, outcome.answer);
  } catch (error) {
    // A closing mock or a client that hung up is no failure of the mock: drop the exchange quietly.
    if (signal.aborted || req.destroyed || res.destroyed) {
      res.destroy();
      return;
    }
    console.error(`[mock-providers] ${state.provider} ${method} ${path} failed:`, error);
    if (res.headersSent) res.destroy();
    else writeJson(res, handler.errorAnswer(500, 'The mock provider failed unexpectedly.'));
  }
}
