import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('fills the documented defaults from an empty environment', () => {
    const c = loadConfig({});
    assert.equal(c.grpc.port, 50051);
    assert.equal(c.grpc.host, '127.0.0.1');
    assert.deepEqual(c.temporal, { address: 'localhost:7233', namespace: 'default', taskQueue: 'newsletters' });
    assert.equal(c.delivery.primaryProvider, 'resend');
    assert.equal(c.delivery.concurrency, 5);
    assert.equal(c.delivery.batchSize, 50);
    assert.equal(c.providers.postmark.messageStream, 'broadcast');
    assert.deepEqual(c.ops, { bridgePort: 9464, workerPort: 9465 });
    assert.equal(c.backend.url, undefined);
    assert.equal(c.production, false);
    assert.deepEqual(c.delivery.outage, { retryMaxMs: 600_000, giveUpAfterMs: 12 * 3_600_000 });
    assert.equal(c.workerMemory, 'v8');
    assert.deepEqual(c.suppression, { maxAgeMs: 1_000 });
  });

  it('serves TLS only with both a certificate and a key, and mTLS only on top of TLS', () => {
    assert.equal(loadConfig({}).grpc.tls, undefined);
    assert.deepEqual(loadConfig({ GRPC_TLS_CERT: '/c.pem', GRPC_TLS_KEY: '/k.pem' }).grpc.tls, {
      certFile: '/c.pem',
      keyFile: '/k.pem',
      reloadMs: 60_000,
    });
    assert.throws(() => loadConfig({ GRPC_TLS_CERT: '/c.pem' }), /GRPC_TLS_CERT, GRPC_TLS_KEY: set both or neither/);
    assert.throws(() => loadConfig({ GRPC_TLS_CLIENT_CA: '/ca.pem' }), /GRPC_TLS_CLIENT_CA: needs GRPC_TLS_CERT/);
  });

  it('reaches Temporal over TLS when a CA, a client certificate, a server name or an API key is set', () => {
    assert.equal(loadConfig({}).temporal.tls, undefined);
    assert.deepEqual(loadConfig({ TEMPORAL_API_KEY: 'k' }).temporal, {
      address: 'localhost:7233',
      namespace: 'default',
      taskQueue: 'newsletters',
      tls: {},
      apiKey: 'k',
    });
    assert.deepEqual(
      loadConfig({ TEMPORAL_TLS_CA: '/ca', TEMPORAL_TLS_CERT: '/c', TEMPORAL_TLS_KEY: '/k' }).temporal.tls,
      { caFile: '/ca', certFile: '/c', keyFile: '/k' },
    );
    assert.throws(
      () => loadConfig({ TEMPORAL_TLS_KEY: '/k' }),
      /TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY: set both or neither/,
    );
  });

  it('serves plaintext beyond loopback only when GRPC_ALLOW_PLAINTEXT=true says TLS is terminated in front', () => {
    assert.equal(loadConfig({}).grpc.allowPlaintext, false);
    assert.equal(loadConfig({ GRPC_ALLOW_PLAINTEXT: 'true' }).grpc.allowPlaintext, true);
    assert.throws(() => loadConfig({ GRPC_ALLOW_PLAINTEXT: 'yes' }), /GRPC_ALLOW_PLAINTEXT/);
  });

  it('serves reflection by default, not in production unless GRPC_REFLECTION=true', () => {
    assert.equal(loadConfig({}).grpc.reflection, true);
    assert.equal(loadConfig({ NODE_ENV: 'production' }).grpc.reflection, false);
    assert.equal(loadConfig({ NODE_ENV: 'production', GRPC_REFLECTION: 'true' }).grpc.reflection, true);
    assert.equal(loadConfig({ GRPC_REFLECTION: 'false' }).grpc.reflection, false);
  });

  it("reads OUTAGE_GIVE_UP_AFTER as a duration with a unit or in milliseconds, within Resend's 24 h key window", () => {
    const giveUp = (value: string) => loadConfig({ OUTAGE_GIVE_UP_AFTER: value }).delivery.outage.giveUpAfterMs;
    assert.equal(giveUp('30s'), 30_000);
    assert.equal(giveUp('90m'), 5_400_000);
    assert.equal(giveUp('1.5h'), 5_400_000);
    assert.equal(giveUp('2500'), 2_500);
    assert.equal(giveUp('2500ms'), 2_500);
    for (const bad of ['24h', 'soon', '-1s', '0']) {
      assert.throws(() => giveUp(bad), /OUTAGE_GIVE_UP_AFTER: expected a duration/, bad);
    }
  });

  it('treats empty strings as unset and strips trailing slashes from URLs', () => {
    const c = loadConfig({
      RESEND_API_KEY: '',
      RESEND_BASE_URL: 'http://127.0.0.1:4010/',
      BACKEND_URL: 'http://backend:8000/',
    });
    assert.equal(c.providers.resend.apiKey, undefined);
    assert.equal(c.providers.resend.baseUrl, 'http://127.0.0.1:4010');
    assert.equal(c.backend.url, 'http://backend:8000');
  });

  it("keeps PROVIDER_TIMEOUT_MS to 30 s: an attempt in doubt (its wait, a search and a send) fits the send activity's 2 minutes", () => {
    assert.equal(loadConfig({ PROVIDER_TIMEOUT_MS: '30000' }).providers.timeoutMs, 30_000);
    assert.throws(() => loadConfig({ PROVIDER_TIMEOUT_MS: '30001' }), /PROVIDER_TIMEOUT_MS/);
  });

  it('refuses timeouts too short to be meant (seconds written as milliseconds): every call would end before its answer', () => {
    assert.throws(() => loadConfig({ PROVIDER_TIMEOUT_MS: '15' }), /PROVIDER_TIMEOUT_MS: .*at least 100/);
    assert.equal(loadConfig({ PROVIDER_TIMEOUT_MS: '400' }).providers.timeoutMs, 400);
    assert.throws(
      () => loadConfig({ TEMPORAL_CALL_TIMEOUT: '15' }),
      /TEMPORAL_CALL_TIMEOUT: expected a duration from 1s to 5m/,
    );
    assert.throws(
      () => loadConfig({ WATCH_MAX_LIFETIME: '1' }),
      /WATCH_MAX_LIFETIME: expected a duration from 1s to 24h/,
    );
    // The message names the limits in the units it suggests: 10m is over 5m, and says so.
    assert.throws(() => loadConfig({ TEMPORAL_CALL_TIMEOUT: '10m' }), /from 1s to 5m, such as/);
  });

  it('refuses a FRONTEND_URL every unsubscribe link would break on or leak from: a query, a fragment, a user or password', () => {
    for (
      const bad of [
        'https://app.example.com/portal?tenant=acme',
        'https://app.example.com/#/',
        'https://u:s3cret@app.example.com',
      ]
    ) {
      assert.throws(() => loadConfig({ FRONTEND_URL: bad }), /FRONTEND_URL/, bad);
    }
    assert.equal(
      loadConfig({ FRONTEND_URL: 'https://app.example.com/portal/' }).delivery.frontendUrl,
      'https://app.example.com/portal',
    );
    // The scheme and host in any case: the production check (https only) reads the scheme as URL writes it.
    assert.equal(
      loadConfig({ FRONTEND_URL: 'HTTPS://App.Example.com' }).delivery.frontendUrl,
      'https://app.example.com',
    );
  });

  it('refuses provider base URLs with a user or password: every call would fail as an unknown outcome, retried for ever', () => {
    assert.throws(() => loadConfig({ RESEND_BASE_URL: 'https://key:secret@api.resend.com' }), /RESEND_BASE_URL/);
    assert.throws(
      () => loadConfig({ POSTMARK_BASE_URL: 'https://key:secret@api.postmarkapp.com' }),
      /POSTMARK_BASE_URL/,
    );
  });

  it('refuses a FROM_EMAIL that is not a mailbox at start (every send without from_email would be refused, blaming the caller)', () => {
    assert.equal(loadConfig({ FROM_EMAIL: 'News <news@example.com>' }).delivery.fromEmail, 'News <news@example.com>');
    assert.throws(() => loadConfig({ FROM_EMAIL: 'newsletter' }), /FROM_EMAIL/);
    assert.throws(() => loadConfig({ FROM_EMAIL: '"news@example.com"' }), /FROM_EMAIL/);
  });

  it('reads FROM_DOMAINS as the domains this service may send from, and refuses a FROM_EMAIL outside them at start', () => {
    assert.deepEqual(loadConfig({}).delivery.fromDomains, []);
    assert.deepEqual(
      loadConfig({ FROM_DOMAINS: ' Authentik.local, news.example.com ,', FROM_EMAIL: 'a@authentik.local' }).delivery
        .fromDomains,
      ['authentik.local', 'news.example.com'],
    );
    for (
      const bad of ['example', 'exa mple.com', '@example.com', 'example..com', '-a.example.com', 'a_b.example.com']
    ) {
      assert.throws(
        () => loadConfig({ FROM_DOMAINS: bad, FROM_EMAIL: 'a@example.com' }),
        (err: unknown) => err instanceof ConfigError && /FROM_DOMAINS: .*domain name/.test(err.message),
        bad,
      );
    }
    assert.throws(
      () => loadConfig({ FROM_DOMAINS: 'example.com', FROM_EMAIL: 'News <news@other.example.org>' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /FROM_EMAIL: sends from other\.example\.org, not one of FROM_DOMAINS/.test(err.message),
    );
  });

  it('reads the OpenTelemetry variables as the specification has them, and refuses an exporter it does not have', () => {
    const otlp = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
    assert.equal(loadConfig(otlp).tracing.otlp, true);
    assert.equal(loadConfig({ ...otlp, OTEL_SDK_DISABLED: 'TRUE' }).tracing.otlp, false, 'case-insensitive');
    assert.equal(loadConfig({ ...otlp, OTEL_TRACES_EXPORTER: 'none' }).tracing.otlp, false);
    assert.equal(loadConfig({ ...otlp, OTEL_TRACES_EXPORTER: 'otlp' }).tracing.otlp, true);
    assert.throws(() => loadConfig({ ...otlp, OTEL_TRACES_EXPORTER: 'console' }), /OTEL_TRACES_EXPORTER: .*otlp/);
    assert.deepEqual(
      loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod, team=mail%20ops' }).tracing
        .resourceAttributes,
      { 'deployment.environment': 'prod', team: 'mail ops' },
    );
    assert.throws(() => loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'novalue' }), /OTEL_RESOURCE_ATTRIBUTES/);
  });

  it('refuses a RESEND_WEBHOOK_SECRET that is not a signing secret at start (every Resend webhook would be refused 401)', () => {
    const secret = `whsec_${Buffer.from('a signing secret').toString('base64')}`;
    assert.equal(loadConfig({ RESEND_WEBHOOK_SECRET: secret }).webhooks.resendSecret, secret);
    for (const bad of ['re_123abc', 'whsec_abc', 'whsec_not base64!']) {
      assert.throws(
        () => loadConfig({ RESEND_WEBHOOK_SECRET: bad }),
        (err: unknown) =>
          err instanceof ConfigError && /RESEND_WEBHOOK_SECRET/.test(err.message) && !err.message.includes(bad),
      );
    }
  });

  it('keeps BACKEND_RESULTS_TIMEOUT_MS to 10 s, well inside the send activity that waits for it', () => {
    assert.equal(loadConfig({ BACKEND_RESULTS_TIMEOUT_MS: '10000' }).backend.resultsTimeoutMs, 10_000);
    assert.throws(() => loadConfig({ BACKEND_RESULTS_TIMEOUT_MS: '30000' }), /BACKEND_RESULTS_TIMEOUT_MS/);
  });

  it('refuses a URL with a user or password in it (it would be echoed in errors and logs), naming the variable only', () => {
    assert.throws(
      () => loadConfig({ BACKEND_URL: 'http://svc:s3cretpass@backend.internal' }),
      (err: unknown) =>
        err instanceof ConfigError && /BACKEND_URL/.test(err.message) && !/s3cretpass/.test(err.message),
    );
  });

  it('refuses an INTERNAL_SERVICE_TOKEN no client can send (an Authorization header carries printable ASCII, no spaces)', () => {
    assert.equal(loadConfig({ INTERNAL_SERVICE_TOKEN: ' s3cr3t-T0ken_+/= ' }).internalServiceToken, 's3cr3t-T0ken_+/=');
    for (const bad of ['tok\u20acn-value', 'two words', 'tab\there']) {
      assert.throws(
        () => loadConfig({ INTERNAL_SERVICE_TOKEN: bad }),
        (err: unknown) =>
          err instanceof ConfigError && /INTERNAL_SERVICE_TOKEN: .*printable ASCII/.test(err.message) &&
          !err.message.includes(bad),
        bad,
      );
    }
  });

  it('refuses a BACKEND_URL or provider base URL with a query or a fragment: every path is appended to it', () => {
    for (const name of ['BACKEND_URL', 'RESEND_BASE_URL', 'POSTMARK_BASE_URL']) {
      for (const bad of ['https://b.example/base?tenant=a', 'https://b.example/base#x']) {
        assert.throws(() => loadConfig({ [name]: bad }), new RegExp(`${name}: must not carry a query or a fragment`));
      }
    }
    assert.equal(loadConfig({ BACKEND_URL: 'https://b.example/base/' }).backend.url, 'https://b.example/base');
  });

  it('reads NODE_ENV whatever its case, and refuses a value it does not know rather than turn the production checks off', () => {
    assert.equal(loadConfig({ NODE_ENV: 'Production' }).production, true);
    assert.equal(loadConfig({ NODE_ENV: 'Production' }).grpc.reflection, false);
    assert.equal(loadConfig({ NODE_ENV: 'development' }).production, false);
    assert.equal(loadConfig({ NODE_ENV: 'test' }).production, false);
    assert.throws(() => loadConfig({ NODE_ENV: 'prod' }), /NODE_ENV: .*production, development or test/);
  });

  it('refuses CALLBACK_SIGNING_SECRET_PREVIOUS without a current secret: callbacks would be signed with the retiring key only', () => {
    assert.throws(
      () => loadConfig({ CALLBACK_SIGNING_SECRET_PREVIOUS: 'old' }),
      /CALLBACK_SIGNING_SECRET_PREVIOUS: needs CALLBACK_SIGNING_SECRET/,
    );
    assert.deepEqual(
      loadConfig({ CALLBACK_SIGNING_SECRET: 'new', CALLBACK_SIGNING_SECRET_PREVIOUS: 'old' }).backend.signingSecrets,
      ['new', 'old'],
    );
  });

  it('reads numbers written in decimal digits only: a blank is not 0, and 0x10 is not 16', () => {
    for (
      const [name, bad] of [
        ['TEMPORAL_SERVER_PORT', ' '],
        ['SUPPRESSION_MAX_AGE_MS', '  '],
        ['NEWSLETTER_BATCH_SIZE', '0x10'],
        ['RESEND_REQUESTS_PER_SECOND', '1e1'],
        ['PROVIDER_TIMEOUT_MS', '\t'],
      ]
    ) {
      assert.throws(() => loadConfig({ [name!]: bad }), new RegExp(`${name}: `), `${name}=${JSON.stringify(bad)}`);
    }
    assert.equal(loadConfig({ TEMPORAL_SERVER_PORT: ' 50052 ' }).grpc.port, 50052);
    assert.equal(loadConfig({ RESEND_REQUESTS_PER_SECOND: '0.5' }).providers.requestsPerSecond.resend, 0.5);
  });

  it('takes the service name from OTEL_RESOURCE_ATTRIBUTES when OTEL_SERVICE_NAME is unset, as the specification has it', () => {
    assert.equal(
      loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=nl-bridge' }).tracing.serviceName,
      'nl-bridge',
    );
    assert.equal(
      loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=nl-bridge', OTEL_SERVICE_NAME: 'mine' }).tracing.serviceName,
      'mine',
    );
    assert.equal(loadConfig({}).tracing.serviceName, 'authentik-temporal-server');
    assert.equal(
      loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=' }).tracing.serviceName,
      'authentik-temporal-server',
      'an empty one is none',
    );
  });

  it('names the variables that disagree with each other in the same error as those bad on their own', () => {
    assert.throws(
      () => loadConfig({ LOG_LEVEL: 'verbose', GRPC_TLS_CERT: '/c.pem', POSTMARK_WEBHOOK_USER: 'u' }),
      (err: unknown) =>
        err instanceof ConfigError && /LOG_LEVEL/.test(err.message) &&
        /GRPC_TLS_CERT, GRPC_TLS_KEY/.test(err.message) &&
        /POSTMARK_WEBHOOK_USER, POSTMARK_WEBHOOK_PASSWORD/.test(err.message),
    );
  });

  it('names every bad variable in one error, without echoing values', () => {
    assert.throws(
      () =>
        loadConfig({
          TEMPORAL_SERVER_PORT: 'abc',
          PRIMARY_EMAIL_PROVIDER: 'sendgrid',
          NEWSLETTER_BATCH_SIZE: '501',
          BACKEND_URL: 'not a url secret-value',
          WORKER_MEMORY: 'huge',
          SUPPRESSION_MAX_AGE_MS: '-1',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        for (
          const name of [
            'TEMPORAL_SERVER_PORT',
            'PRIMARY_EMAIL_PROVIDER',
            'NEWSLETTER_BATCH_SIZE',
            'BACKEND_URL',
            'WORKER_MEMORY',
            'SUPPRESSION_MAX_AGE_MS',
          ]
        ) {
          assert.ok(err.message.includes(name), `${name} missing from: ${err.message}`);
        }
        assert.ok(!err.message.includes('secret-value'));
        return true;
      },
    );
  });

  it('config.example.env lists every variable, and its values load as they are, read by Node and sourced by a shell alike', () => {
    const file = new URL('../config.example.env', import.meta.url);
    // As `node --env-file=.env` (make dev, npm run dev) reads it.
    const parsed = parseEnv(readFileSync(file, 'utf8'));
    const entries = Object.entries(parsed);
    // As the README has people bring it into their shell (`set -a; . ./.env; set +a`): every line is valid there too.
    const sourced = execFileSync('bash', ['-c', 'set -a; . "$0" || exit 9; env -0', file.pathname], {
      encoding: 'utf8',
      env: {},
    });
    const inShell = Object.fromEntries(
      sourced.split('\0').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    for (const [key, value] of entries) assert.equal(inShell[key], value, `${key} reads the same in a shell`);
    assert.deepEqual(
      CONFIG_VARIABLES.filter((v) => !entries.some(([k]) => k === v)),
      [],
      'missing from config.example.env',
    );
    assert.deepEqual(
      entries.map(([k]) => k).filter((k) => !CONFIG_VARIABLES.includes(k)),
      [],
      'not read by the service',
    );
    assert.doesNotThrow(() => loadConfig(Object.fromEntries(entries)));
  });
});
