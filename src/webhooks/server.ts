/**
 * The provider webhook endpoints, served by the bridge role on WEBHOOK_PORT:
 * `POST /webhooks/resend` (Standard Webhooks signature, RESEND_WEBHOOK_SECRET) and
 * `POST /webhooks/postmark` (basic auth, POSTMARK_WEBHOOK_USER / _PASSWORD).
 *
 * A request that does not verify gets 401, a malformed one 400, and neither changes
 * anything. A verified event about one of our emails is signalled (with start) to its
 * newsletter's events workflow — with the others about that newsletter that arrive meanwhile
 * (group-signals.ts) — and acknowledged (200) only once Temporal has it: a crash before that
 * makes the provider deliver it again, and the workflow counts it once.
 * Events about other emails are acknowledged and dropped.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Buffer } from 'node:buffer';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config.ts';
import { type DeliveryEvent, eventsWorkflowIdFor, WebhookRefused } from '../domain/events.ts';
import type { Logger } from '../logger.ts';
import { readPostmarkWebhook } from '../providers/postmark/webhooks.ts';
import { checkResendHeaders, readResendWebhook, type ResendHeaders } from '../providers/resend/webhooks.ts';
import type { Suppression } from '../domain/suppression.ts';
import { workflowIdFor } from '../domain/types.ts';
import { ShardFullError, SuppressionList } from '../suppression/list.ts';
import type { BridgeMetrics } from '../telemetry/metrics.ts';
import { inSpan, inTrace, type NewsletterTrace, SpanKind, traceFromMemo } from '../telemetry/tracing.ts';
import { temporalDidNotAnswer } from '../bridge/errors.ts';
import { isNewsletterId } from '../bridge/validation.ts';
import { sameSecret } from '../bridge/auth.ts';
import { deliveryEventsSignal, newsletterEventsWorkflow } from '../workflows/events.ts';
import { maskedError } from '../domain/addresses.ts';
import { readCapped } from '../read-capped.ts';
import { GroupedSignals } from './group-signals.ts';

/** MAX_WEBHOOK_BYTES bounds one webhook body (providers send a few KB). */
const MAX_WEBHOOK_BYTES = 1024 * 1024;
/**
 * MAX_POSTMARK_BYTES bounds an authenticated Postmark record: with "Include bounce content" a Bounce
 * or SpamComplaint carries the report, which may quote the whole email (Postmark sends up to 10 MB).
 * Refusing one as too large would refuse it at every retry, and the address would never be suppressed.
 */
const MAX_POSTMARK_BYTES = 16 * 1024 * 1024;
/** TEMPORAL_WAIT_MS bounds each call to Temporal of a hand-off; beyond it the provider is told to retry (503). */
const TEMPORAL_WAIT_MS = 10_000;
/** EVENTS_PER_SIGNAL bounds the events one signal carries (a few hundred bytes each). */
const EVENTS_PER_SIGNAL = 200;
/** TRACES_KEPT bounds the newsletters whose trace the endpoint remembers (events come for days after a send). */
const TRACES_KEPT = 10_000;

/**
 * CONNECTION_LIMITS: a client gets headersMs for its headers and requestMs for its whole request
 * (a 16 MB Postmark record at 1 MB/s takes 16 s), then a 408; at most max connections are open,
 * a new one beyond is dropped (the provider delivers again). Node's defaults (60 s, 300 s, none)
 * let slow or idle clients hold connections, each with up to a body's worth buffered, for minutes.
 */
export const CONNECTION_LIMITS = { headersMs: 15_000, requestMs: 60_000, max: 1_024 } as const;

/** WebhookServer is the running endpoint. */
export interface WebhookServer {
  port: number;
  close(): Promise<void>;
}

/** WebhookDeps are what the endpoint needs. */
export interface WebhookDeps {
  config: Config;
  client: Client;
  logger: Logger;
  metrics?: BridgeMetrics;
  /** limits replaces CONNECTION_LIMITS (tests shorten them). */
  limits?: { headersMs: number; requestMs: number; max: number };
}

class TooLarge extends Error {
  constructor(readonly limit: number) {
    super(`at most ${limit} bytes`);
  }
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return (await readCapped(req, limit, () => new TooLarge(limit))).toString('utf8');
}

/** resendHeaders are a request's Standard Webhooks headers. */
function resendHeaders(req: IncomingMessage): ResendHeaders {
  const header = (name: string) => req.headers[name] as string | undefined;
  return { id: header('svix-id'), timestamp: header('svix-timestamp'), signature: header('svix-signature') };
}

/** postmarkAuthorized checks `Authorization: Basic` against the configured credentials. */
function postmarkAuthorized(header: string | undefined, expected: { user: string; password: string }): boolean {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!match) return false;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  return sameSecret(decoded, `${expected.user}:${expected.password}`);
}

/**
 * suppressionFor is the suppression an event calls for: a hard bounce, a complaint or an
 * unsubscribe stops mail to the address, and so does a provider keeping an email from it (Resend's
 * `email.suppressed`): the other provider, which does not know, would mail it after a failover.
 */
export function suppressionFor(event: DeliveryEvent): Suppression | undefined {
  const reason = event.kind === 'complained'
    ? 'complaint'
    : event.kind === 'unsubscribed'
    ? 'unsubscribe'
    : event.kind === 'bounced' && event.bounce === 'hard'
    ? 'hard_bounce'
    : event.kind === 'suppressed'
    ? 'provider_suppressed'
    : undefined;
  if (!reason) return undefined;
  return {
    email: event.email,
    reason,
    source: event.provider,
    ...(event.detail ? { detail: event.detail } : {}),
    createdAt: event.occurredAt,
  };
}

/** startWebhookServer listens on GRPC_HOST:WEBHOOK_PORT. */
export async function startWebhookServer(deps: WebhookDeps): Promise<WebhookServer> {
  const { config, client, logger } = deps;
  const { webhooks } = config;
  if (!webhooks.resendSecret) logger.warn('RESEND_WEBHOOK_SECRET is not set: /webhooks/resend refuses every request');
  if (!webhooks.postmark) {
    logger.warn('POSTMARK_WEBHOOK_USER/_PASSWORD are not set: /webhooks/postmark refuses every request');
  }

  /**
   * admit refuses, from its headers alone, a request that cannot be authentic: before its body
   * (up to MAX_WEBHOOK_BYTES) is read, so anyone without the credentials costs next to nothing.
   */
  const admit = (path: string, req: IncomingMessage): void => {
    if (path === '/webhooks/resend') {
      if (!webhooks.resendSecret) throw new WebhookRefused(401, 'Resend webhooks are not configured');
      // Without its signature headers, or signed too long ago (or ahead), it cannot verify: its body is not read.
      checkResendHeaders(resendHeaders(req));
    } else if (!webhooks.postmark || !postmarkAuthorized(req.headers.authorization, webhooks.postmark)) {
      throw new WebhookRefused(401, 'basic auth credentials do not match');
    }
  };

  /** read verifies and parses one admitted request into its event (undefined: not about our emails). */
  const read = (path: string, req: IncomingMessage, body: string): DeliveryEvent | undefined => {
    if (path === '/webhooks/resend') {
      return readResendWebhook(body, resendHeaders(req), webhooks.resendSecret!);
    }
    return readPostmarkWebhook(body);
  };

  const suppressions = new SuppressionList(client, config.temporal.taskQueue);
  /**
   * traces remembers each newsletter's trace (its workflow's memo; null: none, or no such
   * newsletter): its events workflow starts in it, so the events, their callbacks and their
   * backend requests are in the newsletter's one trace.
   */
  const traces = new Map<string, NewsletterTrace | null>();
  const traceOf = async (newsletterId: string): Promise<NewsletterTrace | undefined> => {
    if (traces.has(newsletterId)) return traces.get(newsletterId) ?? undefined;
    let found: NewsletterTrace | null = null;
    try {
      const { memo } = await client.workflow.getHandle(workflowIdFor(newsletterId)).describe();
      found = traceFromMemo(memo) ?? null;
    } catch (err) {
      // Temporal did not answer: no hand-off now (the provider sends the events again). Going on
      // outside the trace could start the events workflow in a trace of its own, for its whole life.
      if (temporalDidNotAnswer(err)) throw err;
      if (!(err instanceof WorkflowNotFoundError)) {
        // Anything else (a key that may signal but not describe) would refuse every event: they go outside the trace.
        logger.warn(
          { err: maskedError(err).message },
          "could not read a newsletter's trace: its provider events go outside it",
        );
        return undefined;
      }
    }
    if (traces.size >= TRACES_KEPT) traces.delete(traces.keys().next().value!);
    traces.set(newsletterId, found);
    return found ?? undefined;
  };
  // A newsletter's events that arrive together go to its events workflow in one signal.
  const signals = new GroupedSignals<DeliveryEvent>(
    (newsletterId, events) =>
      client.withDeadline(Date.now() + TEMPORAL_WAIT_MS, async () => {
        const newsletterTrace = await traceOf(newsletterId);
        await inSpan('provider events', {
          kind: SpanKind.INTERNAL,
          attributes: { 'newsletter.events': events.length },
          ...(newsletterTrace ? { parent: inTrace(newsletterTrace.traceId, newsletterTrace.spanId) } : {}),
        }, () =>
          client.workflow.signalWithStart(newsletterEventsWorkflow, {
            workflowId: eventsWorkflowIdFor(newsletterId),
            taskQueue: config.temporal.taskQueue,
            args: [{ newsletterId }],
            signal: deliveryEventsSignal,
            signalArgs: [events],
          }));
      }),
    EVENTS_PER_SIGNAL,
    TEMPORAL_WAIT_MS,
  );
  /**
   * handOff signals the event to its newsletter's events workflow, starting it if need be,
   * and puts a hard-bounced, complaining or unsubscribed address on the suppression list.
   */
  const handOff = async (event: DeliveryEvent) => {
    const suppression = suppressionFor(event);
    await Promise.all([
      signals.add(event.newsletterId, event),
      suppression
        ? client.withDeadline(Date.now() + TEMPORAL_WAIT_MS, () => suppressions.add([suppression])).catch(
          (err: unknown) => {
            // A full shard stays full at every redelivery: the event still reaches its newsletter and the
            // backend (which should unsubscribe the person), and the operator learns it here.
            if (!(err instanceof ShardFullError)) throw err;
            logger.error(
              { provider: event.provider, reason: suppression.reason, err: err.message },
              'address not suppressed: its suppression shard is full',
            );
          },
        )
        : undefined,
    ]);
  };

  let closing = false;
  const limits = deps.limits ?? CONNECTION_LIMITS;
  const timeouts = {
    headersTimeout: limits.headersMs,
    requestTimeout: limits.requestMs,
    // How often Node looks for connections past those timeouts (its default, 30 s, would add up to that).
    connectionsCheckingInterval: Math.min(1_000, limits.headersMs),
  };
  const server: Server = createServer(timeouts, async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const answer = (status: number, message: string) =>
      res.writeHead(status, {
        'content-type': 'application/json',
        // Shutting down: the connection ends with this answer instead of idling until it times out.
        ...(closing ? { connection: 'close' } : {}),
      }).end(JSON.stringify({ message }));
    if (path !== '/webhooks/resend' && path !== '/webhooks/postmark') return answer(404, 'not found');
    if (req.method !== 'POST') return answer(405, 'POST only');
    const provider = path.slice('/webhooks/'.length);
    let outcome = 'accepted';
    let received = false;
    try {
      admit(path, req);
      // Admitted: a Postmark request has shown its credentials; Resend's is verified once read.
      const limit = path === '/webhooks/postmark' ? MAX_POSTMARK_BYTES : MAX_WEBHOOK_BYTES;
      const body = await readBody(req, limit);
      received = true;
      const event = read(path, req, body);
      // Another sender on the same provider account may tag its emails newsletter_id too: an id this
      // service would have refused is none of its newsletters (and would name a workflow of its own for 45 days).
      if (!event || !isNewsletterId(event.newsletterId)) {
        outcome = 'ignored';
        return answer(200, 'not about an email of this service: ignored');
      }
      await handOff(event);
      return answer(200, 'accepted');
    } catch (err) {
      if (err instanceof TooLarge) {
        outcome = 'too_large';
        return answer(413, err.message);
      }
      // The client went away, or sent too slowly and had its 408, before its request was in: nothing was
      // taken, nobody to answer. (One that hung up after is counted by what became of its request.)
      if (!received && req.socket.destroyed) {
        outcome = 'aborted';
        return;
      }
      if (err instanceof WebhookRefused) {
        outcome = err.status === 401 ? 'unauthorized' : 'malformed';
        logger.warn({ provider, status: err.status, reason: err.message }, 'webhook refused');
        return answer(err.status, err.message);
      }
      // Temporal did not take it: the provider retries later, nothing is lost.
      outcome = 'retry';
      logger.error({ provider, err: maskedError(err).message }, 'webhook not handed to Temporal: asked to retry');
      return answer(503, 'not recorded: retry later');
    } finally {
      deps.metrics?.webhook(provider, outcome);
    }
  });
  server.maxConnections = limits.max;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(webhooks.port, config.grpc.host, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : webhooks.port;
  logger.info({ port }, 'webhook endpoints: /webhooks/resend /webhooks/postmark');
  return {
    port,
    // Requests in flight finish their hand-off (the signal in flight, then their own: each
    // bounded by TEMPORAL_WAIT_MS) and get their answer, so the provider does not send again
    // what Temporal took; idle connections go at once.
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        const force = setTimeout(() => server.closeAllConnections(), 2 * TEMPORAL_WAIT_MS + 1_000);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
