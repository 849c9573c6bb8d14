/**
 * Config: every environment variable the service reads, parsed and validated once
 * at start-up into a typed object. Nothing else reads `process.env`.
 */
import { z } from 'zod';
import { type ProviderName, PROVIDERS } from './domain/types.ts';
import { fromElsewhere, isDomainName, isMailbox } from './domain/addresses.ts';

/**
 * decimal reads a number written in decimal digits (a fraction where fractions says so): a blank
 * would otherwise read as 0 (a random port, a strict mode) and 0x10 or 1e3 as what few mean by them.
 */
const decimal = (fractions = false) =>
  z.string().trim().regex(
    fractions ? /^\d+(?:\.\d+)?$/ : /^\d+$/,
    fractions ? 'expected a number' : 'expected a whole number',
  )
    .transform(Number);
const port = (fallback: number) => decimal().pipe(z.number().max(65535)).default(fallback);
const positiveInt = (fallback: number, max: number) => decimal().pipe(z.number().min(1).max(max)).default(fallback);
const optionalString = z.string().trim().min(1).optional();
/** isSigningSecret: a Standard Webhooks secret, `whsec_` (optional) and standard base64. */
const isSigningSecret = (secret: string) => {
  const key = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  return key.length > 0 && key.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(key);
};
// No user or password in a URL: it would be echoed in every error and log line that names the URL
// (and fetch refuses such a URL: a provider's would fail every call as an unknown outcome).
const httpUrl = z.url({ protocol: /^https?$/ }).refine((url) => {
  const parsed = URL.parse(url);
  return !parsed?.username && !parsed?.password;
}, 'must not carry a user or password');
const optionalUrl = httpUrl.optional();
/**
 * baseUrl is a URL paths are appended to (`<url>/unsubscribe?…`, `<url>/api/internal/…`, `<url>/emails/batch`): a
 * query or a fragment would swallow every path, and every call would miss (a callback refused 404 is dropped).
 */
const baseUrl = (what: string) =>
  httpUrl.refine((url) => {
    const parsed = URL.parse(url);
    return !parsed?.search && !parsed?.hash && !url.includes('#') && !url.includes('?');
  }, `must not carry a query or a fragment: ${what}`);
const frontendUrl = baseUrl('the unsubscribe links are built on it');
const providerName = z.enum(PROVIDERS);
const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
/** inUnits writes a limit in the largest unit it is a whole number of: 1s, 5m, 23h. */
const inUnits = (ms: number): string => {
  const [unit, size] = Object.entries(DURATION_UNITS_MS).reverse().find(([, size]) => ms % size === 0)!;
  return `${ms / size}${unit}`;
};
/** duration reads milliseconds, or a number with a unit: `500ms`, `30s`, `10m`, `12h`. */
const duration = (fallback: string, maxMs: number, minMs = 1) =>
  z.string().trim().default(fallback).transform((text, ctx) => {
    const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text);
    const ms = match ? Number(match[1]) * DURATION_UNITS_MS[match[2] ?? 'ms']! : NaN;
    if (!(ms >= minMs && ms <= maxMs)) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration from ${inUnits(minMs)} to ${inUnits(maxMs)}, such as 30s, 10m or 12h`,
      });
      return z.NEVER;
    }
    return Math.round(ms);
  });

// Empty strings mean "unset": docker-compose and .env files write `X=` for "no value".
const schema = z.object({
  // Any other value would turn the production checks (token, TLS, https links) off without a word.
  NODE_ENV: optionalString.transform((v) => v?.toLowerCase()).refine(
    (v) => v === undefined || ['production', 'development', 'test'].includes(v),
    'production, development or test (any other value would turn the production checks off unnoticed)',
  ),
  TEMPORAL_SERVER_PORT: port(50051),
  GRPC_HOST: z.string().trim().min(1).default('127.0.0.1'),
  GRPC_REFLECTION: z.enum(['true', 'false']).optional(),
  GRPC_ALLOW_PLAINTEXT: z.enum(['true', 'false']).default('false'),
  GRPC_TLS_CERT: optionalString,
  GRPC_TLS_KEY: optionalString,
  GRPC_TLS_CLIENT_CA: optionalString,
  GRPC_TLS_RELOAD_MS: positiveInt(60_000, 86_400_000),
  // At least a second: a bare number is milliseconds, and `15` meant as seconds would time out every call.
  TEMPORAL_CALL_TIMEOUT: duration('15s', 300_000, 1_000),
  WATCH_MAX_STREAMS_PER_CALLER: positiveInt(16, 10_000),
  WATCH_MAX_LIFETIME: duration('1h', 24 * 3_600_000, 1_000),
  TEMPORAL_ADDRESS: z.string().trim().min(1).default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().trim().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().trim().min(1).default('newsletters'),
  TEMPORAL_TLS_CERT: optionalString,
  TEMPORAL_TLS_KEY: optionalString,
  TEMPORAL_TLS_CA: optionalString,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_API_KEY: optionalString,
  PRIMARY_EMAIL_PROVIDER: providerName.default('resend'),
  RESEND_API_KEY: optionalString,
  RESEND_BASE_URL: baseUrl("the API's paths are appended to it").default('https://api.resend.com'),
  POSTMARK_API_KEY: optionalString,
  POSTMARK_BASE_URL: baseUrl("the API's paths are appended to it").default('https://api.postmarkapp.com'),
  POSTMARK_MESSAGE_STREAM: z.string().trim().min(1).default('broadcast'),
  // Checked at start as each request's from_email is: a bad default would refuse every send that relies on it.
  FROM_EMAIL: z.string().trim().refine(isMailbox, 'not an email address, or "Name <address>"').default(
    'Authentik <newsletter@authentik.local>',
  ),
  // The domains the provider accounts have verified: a from_email elsewhere is refused at the edge, since
  // each provider would refuse it as an account problem, fail over and wait out an "outage" (empty: any).
  FROM_DOMAINS: z.string().optional().transform((text, ctx) => {
    const domains = (text ?? '').split(',').map((d) => d.trim().toLowerCase()).filter(Boolean);
    const bad = domains.filter((d) => !isDomainName(d));
    if (bad.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `not a domain name: ${bad.join(', ')} (a comma-separated list such as example.com, news.example.com)`,
      });
      return z.NEVER;
    }
    return [...new Set(domains)];
  }),
  EMAIL_CONCURRENCY_LIMIT: positiveInt(5, 100),
  NEWSLETTER_BATCH_SIZE: positiveInt(50, 500),
  BACKEND_URL: baseUrl('the callback and recipient paths are appended to it').optional(),
  FRONTEND_URL: frontendUrl.default('http://localhost:3000'),
  // It travels as `authorization: Bearer <token>`: anything else no client could send (grpc-js refuses it).
  INTERNAL_SERVICE_TOKEN: optionalString.refine(
    (token) => token === undefined || /^[\x21-\x7e]+$/.test(token),
    'printable ASCII without spaces: it travels in an Authorization header',
  ),
  BRIDGE_OPS_PORT: port(9464),
  WEBHOOK_PORT: port(9466),
  // A Standard Webhooks secret (whsec_ and base64): anything else makes every signature check fail.
  RESEND_WEBHOOK_SECRET: optionalString.refine(
    (secret) => secret === undefined || isSigningSecret(secret),
    "not a Resend signing secret (whsec_ and base64, as Resend's webhook page shows it)",
  ),
  POSTMARK_WEBHOOK_USER: optionalString,
  POSTMARK_WEBHOOK_PASSWORD: optionalString,
  WORKER_OPS_PORT: port(9465),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  WORKER_MEMORY: z.enum(['lean', 'v8']).default('v8'),
  // An attempt in doubt through Postmark waits out a call whose end is unknown (this timeout and
  // the 10 s indexing delay), then searches and sends, each call up to this timeout: 3 × 30 s + 10 s
  // fits the send activity's 2-minute attempt (cut off by Temporal, it would only start again).
  // At least 100 ms: `15` meant as seconds would end every call before its answer, an unknown outcome retried for ever.
  PROVIDER_TIMEOUT_MS: decimal().pipe(z.number().min(100, 'at least 100 (milliseconds)').max(30_000)).default(15_000),
  CIRCUIT_BREAKER_FAILURE_THRESHOLD: positiveInt(5, 1000),
  CIRCUIT_BREAKER_COOLDOWN_MS: positiveInt(30_000, 3_600_000),
  RESEND_REQUESTS_PER_SECOND: decimal(true).pipe(z.number().positive().max(10_000)).default(2),
  POSTMARK_REQUESTS_PER_SECOND: decimal(true).pipe(z.number().positive().max(10_000)).default(10),
  // The direct post is the fast path: results a slow backend does not take within it go to a results
  // workflow instead of holding the batch's place in the window (and the attempt's 2 minutes).
  BACKEND_RESULTS_TIMEOUT_MS: positiveInt(2_000, 10_000),
  // 0: every send asks the shards (strict, and slow once the list has entries: README "Suppression").
  SUPPRESSION_MAX_AGE_MS: decimal().pipe(z.number().max(60_000)).default(1_000),
  CALLBACK_SIGNING_SECRET: optionalString,
  // Signs every unsubscribe link (contracts/http/unsubscribe.ts); links live in sent emails for years: rotate rarely.
  UNSUBSCRIBE_SIGNING_SECRET: optionalString,
  CALLBACK_SIGNING_SECRET_PREVIOUS: optionalString,
  OUTAGE_RETRY_MAX_MS: positiveInt(600_000, 3_600_000),
  // Inside Resend's 24 h idempotency window, so a retry after the longest wait is still deduplicated.
  OUTAGE_GIVE_UP_AFTER: duration('12h', 23 * 3_600_000),
  // The standard OpenTelemetry variables; the OTLP exporter reads the rest (headers, protocol...) itself.
  OTEL_SDK_DISABLED: optionalString,
  // Unset: service.name from OTEL_RESOURCE_ATTRIBUTES, else this service's (the specification's order).
  OTEL_SERVICE_NAME: optionalString,
  // The specification's values this service has: its exporter is OTLP/HTTP (anything else would export OTLP all the same).
  OTEL_TRACES_EXPORTER: optionalString.refine(
    (value) => value === undefined || value.split(',').every((e) => ['otlp', 'none'].includes(e.trim().toLowerCase())),
    'otlp (the default) or none: the only exporter here is OTLP over HTTP',
  ),
  // key=value pairs, comma-separated, values percent-encoded: on every span's resource.
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional().transform((text, ctx) => {
    const attributes: Record<string, string> = {};
    for (const pair of (text ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
      const at = pair.indexOf('=');
      let value: string | undefined;
      try {
        value = at > 0 ? decodeURIComponent(pair.slice(at + 1).trim()) : undefined;
      } catch {
        value = undefined;
      }
      if (value === undefined) {
        ctx.addIssue({ code: 'custom', message: 'key=value pairs, comma-separated, values percent-encoded' });
        return z.NEVER;
      }
      attributes[pair.slice(0, at).trim()] = value;
    }
    return attributes;
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
});

/** CONFIG_VARIABLES names every variable the service reads (config.example.env lists each; a spec checks). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

/** RequestLimits bound what one gRPC request may hold on to (README, "Security"). */
export interface RequestLimits {
  /** temporalCallMs bounds each Temporal call made for a request, when the caller's own deadline is not sooner. */
  temporalCallMs: number;
  /** watchStreamsPerCaller is how many WatchNewsletter streams one client address may hold open at once. */
  watchStreamsPerCaller: number;
  /** watchLifetimeMs is how long one WatchNewsletter stream lasts before the caller must open a new one. */
  watchLifetimeMs: number;
}

/** Config is the validated, typed configuration every part of the service receives. */
export interface Config {
  production: boolean;
  /**
   * grpc.reflection: server reflection (GRPC_REFLECTION; default on, off with NODE_ENV=production).
   * grpc.allowPlaintext: TLS is terminated in front (a mesh sidecar, a proxy), so production may
   * serve plaintext beyond loopback (GRPC_ALLOW_PLAINTEXT).
   */
  grpc: {
    host: string;
    port: number;
    reflection: boolean;
    allowPlaintext: boolean;
    tls?: BridgeTls;
    limits: RequestLimits;
  };
  temporal: { address: string; namespace: string; taskQueue: string; tls?: TemporalTls; apiKey?: string };
  delivery: {
    primaryProvider: ProviderName;
    fromEmail: string;
    /** fromDomains: the only domains a from_email may have (empty: any). */
    fromDomains: string[];
    concurrency: number;
    batchSize: number;
    frontendUrl: string;
    /** outage: when every provider refuses, retry by itself with backoff up to retryMaxMs, for giveUpAfterMs. */
    outage: { retryMaxMs: number; giveUpAfterMs: number };
  };
  providers: {
    resend: { apiKey?: string; baseUrl: string };
    postmark: { apiKey?: string; baseUrl: string; messageStream: string };
    timeoutMs: number;
    circuitBreaker: { failureThreshold: number; cooldownMs: number };
    /** requestsPerSecond is each provider account's request rate, enforced on its task queue by the Temporal server. */
    requestsPerSecond: Record<ProviderName, number>;
  };
  /**
   * backend: resultsTimeoutMs bounds the direct post of results before they are handed to a
   * retrying workflow; signingSecrets sign every callback (current first; two during a rotation).
   */
  backend: { url?: string; resultsTimeoutMs: number; signingSecrets: string[] };
  /** suppression: maxAgeMs is how old a worker's copy of a suppression shard may be when a send checks it. */
  suppression: { maxAgeMs: number };
  internalServiceToken?: string;
  /** unsubscribeSecret signs the unsubscribe links (the worker's; never in workflow input or history). */
  unsubscribeSecret?: string;
  ops: { bridgePort: number; workerPort: number };
  /**
   * webhooks: the bridge's provider webhook endpoints on port (WEBHOOK_PORT); Resend's are
   * verified with resendSecret, Postmark's with basic auth. A provider without its setting
   * has its endpoint refuse every request (401).
   */
  webhooks: { port: number; resendSecret?: string; postmark?: { user: string; password: string } };
  logLevel: string;
  /** logFormat: JSON lines (the default, for log pipelines) or pretty (a person at a terminal: make dev, npm run dev). */
  logFormat: 'json' | 'pretty';
  /** workerMemory: the worker's V8 heap sizing (src/worker/memory.ts): V8's own (the default) or lean. */
  workerMemory: 'lean' | 'v8';
  /** tracing: spans are exported over OTLP only when an OTLP endpoint is configured. */
  tracing: { serviceName: string; otlp: boolean; resourceAttributes: Record<string, string> };
}

/**
 * BridgeTls are the bridge's certificate files (PEM): its own, and the CA its clients' must
 * chain to when mTLS is on. They are read again every reloadMs.
 */
export interface BridgeTls {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
  reloadMs: number;
}

/**
 * TemporalTls is how the bridge and the worker reach a TLS Temporal frontend: the CA to trust
 * (the system's when unset), a client certificate for mTLS, the name to check. An API key
 * (Temporal Cloud) implies TLS.
 */
export interface TemporalTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  serverName?: string;
}

/** ConfigError is thrown when environment variables are invalid; its message names every bad variable. */
export class ConfigError extends Error {
  readonly issues: readonly string[];
  constructor(issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const stripSlash = (url: string) => url.replace(/\/+$/, '');

/** loadConfig parses the environment (process.env by default) into a Config or throws ConfigError. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(
    Object.keys(schema.shape).map((key) => [key, env[key] === '' ? undefined : env[key]]),
  );
  const parsed = schema.safeParse(cleaned);
  // Set together or not at all: read from the variables as given, so they are named beside any bad on its own.
  const given = (name: string) => Boolean(cleaned[name]?.trim());
  const pairIssues = [
    ...(given('POSTMARK_WEBHOOK_USER') !== given('POSTMARK_WEBHOOK_PASSWORD')
      ? ['POSTMARK_WEBHOOK_USER, POSTMARK_WEBHOOK_PASSWORD: set both or neither']
      : []),
    ...(given('GRPC_TLS_CERT') !== given('GRPC_TLS_KEY') ? ['GRPC_TLS_CERT, GRPC_TLS_KEY: set both or neither'] : []),
    ...(given('GRPC_TLS_CLIENT_CA') && !given('GRPC_TLS_CERT')
      ? ['GRPC_TLS_CLIENT_CA: needs GRPC_TLS_CERT and GRPC_TLS_KEY']
      : []),
    ...(given('TEMPORAL_TLS_CERT') !== given('TEMPORAL_TLS_KEY')
      ? ['TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY: set both or neither']
      : []),
    ...(given('CALLBACK_SIGNING_SECRET_PREVIOUS') && !given('CALLBACK_SIGNING_SECRET')
      ? ['CALLBACK_SIGNING_SECRET_PREVIOUS: needs CALLBACK_SIGNING_SECRET (the key callbacks are signed with first)']
      : []),
  ];
  if (!parsed.success) {
    // Name the variable and the rule, never the value: some of these are secrets.
    throw new ConfigError([
      ...parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
      ...pairIssues,
    ]);
  }
  const e = parsed.data;
  const crossIssues = [
    ...pairIssues,
    ...[fromElsewhere(e.FROM_EMAIL, e.FROM_DOMAINS)].filter((why) => why).map((why) => `FROM_EMAIL: ${why}`),
  ];
  if (crossIssues.length > 0) throw new ConfigError(crossIssues);
  return {
    production: e.NODE_ENV === 'production',
    grpc: {
      host: e.GRPC_HOST,
      port: e.TEMPORAL_SERVER_PORT,
      reflection: e.GRPC_REFLECTION === undefined ? e.NODE_ENV !== 'production' : e.GRPC_REFLECTION === 'true',
      allowPlaintext: e.GRPC_ALLOW_PLAINTEXT === 'true',
      ...(e.GRPC_TLS_CERT && e.GRPC_TLS_KEY
        ? {
          tls: {
            certFile: e.GRPC_TLS_CERT,
            keyFile: e.GRPC_TLS_KEY,
            ...(e.GRPC_TLS_CLIENT_CA ? { clientCaFile: e.GRPC_TLS_CLIENT_CA } : {}),
            reloadMs: e.GRPC_TLS_RELOAD_MS,
          },
        }
        : {}),
      limits: {
        temporalCallMs: e.TEMPORAL_CALL_TIMEOUT,
        watchStreamsPerCaller: e.WATCH_MAX_STREAMS_PER_CALLER,
        watchLifetimeMs: e.WATCH_MAX_LIFETIME,
      },
    },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      ...(e.TEMPORAL_TLS_CA || e.TEMPORAL_TLS_CERT || e.TEMPORAL_TLS_SERVER_NAME || e.TEMPORAL_API_KEY
        ? {
          tls: {
            ...(e.TEMPORAL_TLS_CA ? { caFile: e.TEMPORAL_TLS_CA } : {}),
            ...(e.TEMPORAL_TLS_CERT && e.TEMPORAL_TLS_KEY
              ? { certFile: e.TEMPORAL_TLS_CERT, keyFile: e.TEMPORAL_TLS_KEY }
              : {}),
            ...(e.TEMPORAL_TLS_SERVER_NAME ? { serverName: e.TEMPORAL_TLS_SERVER_NAME } : {}),
          },
        }
        : {}),
      ...(e.TEMPORAL_API_KEY ? { apiKey: e.TEMPORAL_API_KEY } : {}),
    },
    delivery: {
      primaryProvider: e.PRIMARY_EMAIL_PROVIDER,
      fromEmail: e.FROM_EMAIL,
      fromDomains: e.FROM_DOMAINS,
      concurrency: e.EMAIL_CONCURRENCY_LIMIT,
      batchSize: e.NEWSLETTER_BATCH_SIZE,
      // As URL writes it (scheme and host in lower case): `HTTPS://…` is as https as any to the production check.
      frontendUrl: stripSlash(new URL(e.FRONTEND_URL).href),
      outage: { retryMaxMs: e.OUTAGE_RETRY_MAX_MS, giveUpAfterMs: e.OUTAGE_GIVE_UP_AFTER },
    },
    providers: {
      resend: { apiKey: e.RESEND_API_KEY, baseUrl: stripSlash(e.RESEND_BASE_URL) },
      postmark: {
        apiKey: e.POSTMARK_API_KEY,
        baseUrl: stripSlash(e.POSTMARK_BASE_URL),
        messageStream: e.POSTMARK_MESSAGE_STREAM,
      },
      timeoutMs: e.PROVIDER_TIMEOUT_MS,
      circuitBreaker: {
        failureThreshold: e.CIRCUIT_BREAKER_FAILURE_THRESHOLD,
        cooldownMs: e.CIRCUIT_BREAKER_COOLDOWN_MS,
      },
      requestsPerSecond: { resend: e.RESEND_REQUESTS_PER_SECOND, postmark: e.POSTMARK_REQUESTS_PER_SECOND },
    },
    backend: {
      url: e.BACKEND_URL ? stripSlash(e.BACKEND_URL) : undefined,
      resultsTimeoutMs: e.BACKEND_RESULTS_TIMEOUT_MS,
      signingSecrets: [e.CALLBACK_SIGNING_SECRET, e.CALLBACK_SIGNING_SECRET_PREVIOUS].filter((s) => s !== undefined),
    },
    suppression: { maxAgeMs: e.SUPPRESSION_MAX_AGE_MS },
    internalServiceToken: e.INTERNAL_SERVICE_TOKEN,
    ...(e.UNSUBSCRIBE_SIGNING_SECRET ? { unsubscribeSecret: e.UNSUBSCRIBE_SIGNING_SECRET } : {}),
    ops: { bridgePort: e.BRIDGE_OPS_PORT, workerPort: e.WORKER_OPS_PORT },
    webhooks: {
      port: e.WEBHOOK_PORT,
      ...(e.RESEND_WEBHOOK_SECRET ? { resendSecret: e.RESEND_WEBHOOK_SECRET } : {}),
      ...(e.POSTMARK_WEBHOOK_USER && e.POSTMARK_WEBHOOK_PASSWORD
        ? { postmark: { user: e.POSTMARK_WEBHOOK_USER, password: e.POSTMARK_WEBHOOK_PASSWORD } }
        : {}),
    },
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    workerMemory: e.WORKER_MEMORY,
    tracing: {
      serviceName: e.OTEL_SERVICE_NAME || e.OTEL_RESOURCE_ATTRIBUTES['service.name'] || 'authentik-temporal-server',
      otlp: Boolean(e.OTEL_EXPORTER_OTLP_ENDPOINT || e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) &&
        e.OTEL_TRACES_EXPORTER?.toLowerCase() !== 'none' && e.OTEL_SDK_DISABLED?.toLowerCase() !== 'true',
      resourceAttributes: e.OTEL_RESOURCE_ATTRIBUTES,
    },
  };
}
