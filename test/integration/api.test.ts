/**
 * The gRPC contract at the edge: authentication, validation errors naming fields,
 * NOT_FOUND, the generic WorkflowService, and reflection + health through a real
 * external client (buf curl).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ChannelCredentials, Client as GrpcClient, status as GrpcStatus } from '@grpc/grpc-js';
import { GrpcTransport } from '@protobuf-ts/grpc-transport';
import { RpcError } from '@protobuf-ts/runtime-rpc';
import { Client, Connection } from '@temporalio/client';
import { NewsletterServiceClient } from '../../contracts/gen/authentik/temporal/v1/newsletter.client.ts';
import { startBridge } from '../../src/bridge/server.ts';
import { createLogger } from '../../src/logger.ts';
import {
  NewsletterService,
  NewsletterState,
  type SendNewsletterRequest,
} from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { WorkflowStatus } from '../../contracts/gen/authentik/temporal/v1/workflow.ts';
import { Timestamp } from '../../contracts/gen/google/protobuf/timestamp.ts';
import { shardOf, suppressionWorkflowId } from '../../src/domain/suppression.ts';
import { MAX_INLINE_RECIPIENTS } from '../../src/domain/types.ts';
import { newsletterId, newsletterRequest, recipients, TOKEN } from '../support/fixtures.ts';
import { eventually } from '../support/eventually.ts';
import { type Stack, startStack } from './harness.ts';

const run = promisify(execFile);

const valid = (): SendNewsletterRequest => newsletterRequest(newsletterId('api'), recipients(3, 'a'));

async function rpcError(call: Promise<unknown>): Promise<RpcError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  assert.fail('expected the call to fail');
}

describe('gRPC API', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });
  const send = (req: SendNewsletterRequest, auth = stack.auth) => stack.newsletters.sendNewsletter(req, auth).response;

  it('rejects calls without a token or with a wrong one as UNAUTHENTICATED', async () => {
    const missing = await rpcError(stack.newsletters.sendNewsletter(valid()).response);
    assert.equal(missing.code, 'UNAUTHENTICATED');
    const wrong = await rpcError(send(valid(), { meta: { authorization: 'Bearer nope' } }));
    assert.equal(wrong.code, 'UNAUTHENTICATED');
    assert.ok(!wrong.message.includes(TOKEN));
  });

  it('refuses a call without a token before reading its message: a body that does not parse is UNAUTHENTICATED too', async () => {
    const raw = new GrpcClient(`127.0.0.1:${stack.bridge.port}`, ChannelCredentials.createInsecure());
    try {
      const code = await new Promise<number | undefined>((resolve) => {
        raw.makeUnaryRequest(
          `/${NewsletterService.typeName}/SendNewsletter`,
          (body: Buffer) => body,
          (body: Buffer) => body,
          Buffer.from([0xff, 0xff, 0xff, 0xff]),
          (err) => resolve(err?.code),
        );
      });
      assert.equal(code, GrpcStatus.UNAUTHENTICATED);
      // Counted with the calls the bridge refuses, as operators look for a client with a wrong token.
      const metrics = await (await fetch(`http://127.0.0.1:${stack.ops.bridgePort}/metrics`)).text();
      assert.match(
        metrics,
        /newsletter_grpc_server_handled_total\{[^}]*method="SendNewsletter"[^}]*code="UNAUTHENTICATED"[^}]*\} [1-9]/,
      );
    } finally {
      raw.close();
    }
  });

  const invalidCases: Array<[string, (r: SendNewsletterRequest) => void, RegExp]> = [
    ['a missing subject', (r) => (r.subject = ''), /^subject: required/],
    [
      'a bad recipient email',
      (r) => (r.recipients[1]!.email = 'not-an-email'),
      /recipients\[1\]\.email: not an email address/,
    ],
    [
      'a template that does not compile',
      (r) => (r.htmlContent = '<p>{{#open}}</p>'),
      /html_content: template does not compile/,
    ],
    ['no content at all', (r) => {
      r.htmlContent = '';
      r.textContent = '';
    }, /html_content: at least one of/],
    ['a bad newsletter id', (r) => (r.newsletterId = 'has spaces'), /newsletter_id: must match/],
    [
      'a duplicate recipient',
      (r) => (r.recipients[2]!.email = r.recipients[0]!.email.toUpperCase()),
      /recipients\[2\]\.email: duplicate of recipients\[0\]/,
    ],
    [
      'too many recipients',
      (r) => (r.recipients = recipients(MAX_INLINE_RECIPIENTS + 1, 'm')),
      /recipients: at most 10000 recipients/,
    ],
    ['a bad from address', (r) => (r.fromEmail = 'Someone <nope>'), /from_email: not an email address/],
    [
      'a reply_to naming two addresses',
      (r) => (r.replyTo = 'a@evil.test, Boss <ceo@corp.test>'),
      /reply_to: not an email address/,
    ],
    ['an invalid tag', (r) => (r.tags = { 'bad tag': 'x' }), /tags\[bad tag\]/],
    [
      'inline recipients and a backend list at once',
      (r) => (r.recipientSource = { source: { oneofKind: 'backendList', backendList: { listId: 'list-1' } } }),
      /recipients: must be empty when recipient_source is given/,
    ],
    [
      'a bad backend list id',
      (r) => {
        r.recipients = [];
        r.recipientSource = { source: { oneofKind: 'backendList', backendList: { listId: 'no spaces' } } };
      },
      /recipient_source\.backend_list\.list_id: must match/,
    ],
    [
      'a recipient source naming no source',
      (r) => {
        r.recipients = [];
        r.recipientSource = { source: { oneofKind: undefined } };
      },
      /recipient_source: one source is required/,
    ],
    [
      'no recipients at all',
      (r) => (r.recipients = []),
      /recipients: at least one recipient \(or a recipient_source\)/,
    ],
  ];
  for (const [label, mutate, message] of invalidCases) {
    it(`answers INVALID_ARGUMENT naming the field for ${label}`, async () => {
      const request = valid();
      mutate(request);
      const err = await rpcError(send(request));
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, message);
    });
  }

  it('starts no workflow for an invalid request and keeps serving', async () => {
    const request = valid();
    request.subject = '';
    await rpcError(send(request));
    const status = await rpcError(
      stack.newsletters.getNewsletterStatus({ newsletterId: request.newsletterId }, stack.auth).response,
    );
    assert.equal(status.code, 'NOT_FOUND');
    const ok = await send(valid());
    assert.equal(ok.alreadyExists, false);
  });

  it('answers NOT_FOUND for an unknown newsletter on every newsletter RPC', async () => {
    for (
      const call of [
        stack.newsletters.getNewsletterStatus({ newsletterId: 'unknown-newsletter' }, stack.auth).response,
        stack.newsletters.cancelNewsletter({ newsletterId: 'unknown-newsletter', reason: '' }, stack.auth).response,
        stack.newsletters.pauseNewsletter({ newsletterId: 'unknown-newsletter' }, stack.auth).response,
        stack.newsletters.resumeNewsletter({ newsletterId: 'unknown-newsletter' }, stack.auth).response,
        // A stream that fails ends with its status (not a hang: see server.ts adapt).
        stack.newsletters.watchNewsletter({ newsletterId: 'unknown-newsletter' }, stack.auth).status,
      ]
    ) {
      assert.equal((await rpcError(call)).code, 'NOT_FOUND');
    }
  });

  it('starts only registered workflow types through WorkflowService and returns JSON results', async () => {
    const unknown = await rpcError(
      stack.workflows.startWorkflow({ workflowType: 'rm -rf', workflowId: '', argsJson: '[]' }, stack.auth).response,
    );
    assert.equal(unknown.code, 'INVALID_ARGUMENT');
    assert.match(unknown.message, /workflow_type: "rm -rf" is not registered/);
    const badJson = await rpcError(
      stack.workflows.startWorkflow({ workflowType: 'newsletterWorkflow', workflowId: '', argsJson: '{' }, stack.auth)
        .response,
    );
    assert.equal(badJson.code, 'INVALID_ARGUMENT');
    assert.match(badJson.message, /args_json: not valid JSON/);
    // What the refusal echoes is cut at its length limit in the middle of an emoji: answered, and the bridge lives on.
    const cut = await rpcError(
      stack.workflows.startWorkflow(
        { workflowType: `${'x'.repeat(1_006)}😀😀`, workflowId: '', argsJson: '[]' },
        stack.auth,
      )
        .response,
    );
    assert.equal(cut.code, 'INVALID_ARGUMENT');

    const id = newsletterId('generic');
    // The workflow's internal input (batch size, concurrency, carried progress) is not accepted: only a request.
    const internal = {
      newsletterId: id,
      content: { subject: 'Generic', text: 'hi', from: 'news@authentik.example', tags: {} },
      recipients: recipients(2, 'gen'),
      batchSize: 0,
      concurrency: 0,
    };
    const forged = await rpcError(
      stack.workflows.startWorkflow({
        workflowType: 'newsletterWorkflow',
        workflowId: '',
        argsJson: JSON.stringify([internal]),
      }, stack.auth).response,
    );
    assert.equal(forged.code, 'INVALID_ARGUMENT');
    assert.match(forged.message, /args_json\[0\]: not a SendNewsletterRequest/);
    const request = {
      newsletterId: id,
      subject: 'Generic',
      textContent: 'hi {{name}}',
      recipients: recipients(2, 'gen'),
    };
    const otherId = await rpcError(
      stack.workflows.startWorkflow({
        workflowType: 'newsletterWorkflow',
        workflowId: `custom-${id}`,
        argsJson: JSON.stringify([request]),
      }, stack.auth).response,
    );
    assert.equal(otherId.code, 'INVALID_ARGUMENT');
    assert.match(otherId.message, /workflow_id: a newsletter runs as "newsletter-/);

    const started = await stack.workflows.startWorkflow({
      workflowType: 'newsletterWorkflow',
      workflowId: '',
      argsJson: JSON.stringify([request]),
    }, stack.auth).response;
    assert.equal(started.workflowId, `newsletter-${id}`);
    assert.ok(started.runId);
    const result = await stack.workflows.getWorkflowResult(
      { workflowId: started.workflowId, runId: '', wait: true },
      stack.auth,
    ).response;
    assert.equal(result.status, WorkflowStatus.COMPLETED);
    assert.equal(JSON.parse(result.resultJson).sent, 2);
    // A newsletter started this way is a newsletter like any other.
    const status = (await stack.newsletters.getNewsletterStatus({ newsletterId: id }, stack.auth).response).status!;
    assert.equal(status.sent, 2);
    const again = await rpcError(
      stack.workflows.startWorkflow({
        workflowType: 'newsletterWorkflow',
        workflowId: '',
        argsJson: JSON.stringify([request]),
      }, stack.auth).response,
    );
    assert.equal(again.code, 'ALREADY_EXISTS');
    const missing = await rpcError(
      stack.workflows.getWorkflowResult({ workflowId: 'no-such-workflow', runId: '', wait: false }, stack.auth)
        .response,
    );
    assert.equal(missing.code, 'NOT_FOUND');
  });

  it('serves reflection and health to buf curl, and buf curl can call the API', async () => {
    const url = `http://127.0.0.1:${stack.bridge.port}`;
    const base = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge'];
    const { stdout: methods } = await run('buf', [...base, '--list-methods', url]);
    for (
      const m of [
        'SendNewsletter',
        'GetNewsletterStatus',
        'CancelNewsletter',
        'PauseNewsletter',
        'ResumeNewsletter',
        'WatchNewsletter',
      ]
    ) {
      assert.ok(methods.includes(`authentik.temporal.v1.NewsletterService/${m}`), methods);
    }
    assert.ok(methods.includes('authentik.temporal.v1.WorkflowService/StartWorkflow'));
    assert.ok(methods.includes('grpc.health.v1.Health/Check'));
    const { stdout: health } = await run('buf', [...base, '--data', '{}', `${url}/grpc.health.v1.Health/Check`]);
    assert.equal(JSON.parse(health).status, 'SERVING');

    const request = valid();
    const { stdout: sent } = await run('buf', [
      ...base,
      '-H',
      `authorization: Bearer ${TOKEN}`,
      '--data',
      JSON.stringify({
        newsletter_id: request.newsletterId,
        subject: 'Hi {{name}}',
        text_content: 'hello',
        recipients: [{ email: 'curl@example.com', name: 'Curl' }],
      }),
      `${url}/authentik.temporal.v1.NewsletterService/SendNewsletter`,
    ]);
    assert.equal(JSON.parse(sent).workflowId, `newsletter-${request.newsletterId}`);
  });

  it('answers HTTP/1.1 /health and /ready on the gRPC port, beside gRPC on the same port', async () => {
    // curl, as the original README shows it (HTTP/1.1 on the gRPC port).
    const { stdout: body } = await run('curl', ['-sS', '--http1.1', `http://127.0.0.1:${stack.bridge.port}/health`]);
    assert.deepEqual(JSON.parse(body), { status: 'ok', grpc: 'SERVING' });
    const ready = await fetch(`http://127.0.0.1:${stack.bridge.port}/ready`);
    assert.equal(ready.status, 200);
    const other = await fetch(`http://127.0.0.1:${stack.bridge.port}/anything`);
    assert.equal(other.status, 404);
    // The same port still speaks gRPC, also to a client that opened before the HTTP/1.1 calls.
    const { response } = await stack.newsletters.getNewsletterStatus({ newsletterId: 'no-such' }, stack.auth)
      .then(() => assert.fail('expected NOT_FOUND'), (err: RpcError) => ({ response: err.code }));
    assert.equal(response, 'NOT_FOUND');
  });

  it('cancels a newsletter through the generic CancelWorkflow like CancelNewsletter, and refuses a signal it does not take', async () => {
    stack.mock.resend.setLatency(300);
    try {
      const request = { ...valid(), recipients: recipients(2000, 'cw') };
      const { workflowId } = await send(request);
      await new Promise((resolve) => setTimeout(resolve, 700));
      // A newsletter takes no signal: a "pause" answered OK would pause nothing.
      const refused = await rpcError(
        stack.workflows.signalWorkflow({ workflowId, signalName: 'pause', argsJson: '{"hello": 1}' }, stack.auth)
          .response,
      );
      assert.equal(refused.code, 'INVALID_ARGUMENT');
      assert.match(refused.message, /signal_name: newsletterWorkflow takes no signal "pause".*PauseNewsletter/);
      const { events } = await stack.env.client.workflow.getHandle(workflowId).fetchHistory();
      assert.deepEqual(events!.filter((e) => e.workflowExecutionSignaledEventAttributes), [], 'nothing reached it');
      await stack.workflows.cancelWorkflow({ workflowId, reason: 'test' }, stack.auth);
      const result = await stack.workflows.getWorkflowResult({ workflowId, runId: '', wait: true }, stack.auth)
        .response;
      assert.equal(result.status, WorkflowStatus.COMPLETED);
      const final = JSON.parse(result.resultJson);
      assert.equal(final.state, 'CANCELLED');
      assert.ok(final.sent < 2000);
      assert.equal(final.sent + final.skipped, 2000);
      const missing = await rpcError(
        stack.workflows.signalWorkflow({ workflowId: 'no-such-workflow', signalName: 'x', argsJson: '' }, stack.auth)
          .response,
      );
      assert.equal(missing.code, 'NOT_FOUND');
    } finally {
      stack.mock.resend.setLatency(0);
    }
  });

  it("refuses to cancel, signal or read the service's own workflows, and its own signals, through WorkflowService", async () => {
    const email = 'kept-out@example.com';
    await stack.newsletters.addSuppression({ emails: [email], detail: 'complained' }, stack.auth);
    const shard = suppressionWorkflowId(shardOf(email));
    for (
      const call of [
        stack.workflows.cancelWorkflow({ workflowId: shard, reason: 'x' }, stack.auth).response,
        stack.workflows.signalWorkflow({ workflowId: shard, signalName: 'x', argsJson: '' }, stack.auth).response,
        stack.workflows.getWorkflowResult({ workflowId: shard, runId: '', wait: false }, stack.auth).response,
      ]
    ) {
      const refused = await rpcError(call);
      assert.equal(refused.code, 'INVALID_ARGUMENT');
      assert.match(refused.message, /workflow_id: .*suppression-list-\d+.* not a workflow this API runs/);
    }
    const listed = await stack.newsletters.listSuppressions({ pageSize: 1000, pageToken: '' }, stack.auth).response;
    assert.ok(listed.suppressions.some((e) => e.email === email), 'the suppression list kept the address');

    const { workflowId } = await send({ ...valid(), recipients: recipients(3, 'own-signal') });
    const forged = await rpcError(
      stack.workflows.signalWorkflow({ workflowId, signalName: 'resultsSettled', argsJson: '' }, stack.auth).response,
    );
    assert.equal(forged.code, 'INVALID_ARGUMENT');
    assert.match(forged.message, /signal_name: resultsSettled is the service's own/);
  });

  it('refuses a cancel reason or a run id it cannot use, naming the field, before asking Temporal', async () => {
    for (
      const [reason, why] of [['x'.repeat(501), /reason: at most 500 characters/], [
        'stop\u0007',
        /reason: .*control/,
      ]] as const
    ) {
      const refused = await rpcError(
        stack.newsletters.cancelNewsletter({ newsletterId: 'no-such-newsletter', reason }, stack.auth).response,
      );
      assert.equal(refused.code, 'INVALID_ARGUMENT');
      assert.match(refused.message, why);
    }
    const badRun = await rpcError(
      stack.workflows.getWorkflowResult({ workflowId: 'newsletter-x', runId: 'not-a-uuid', wait: false }, stack.auth)
        .response,
    );
    assert.equal(badRun.code, 'INVALID_ARGUMENT');
    assert.match(badRun.message, /run_id: not a run id/);
  });

  it("answers a repeated SendNewsletter with the first one's trace and first run: the newsletter's, not the retry's", async () => {
    const request = { ...valid(), recipients: recipients(2, 'again') };
    const first = await send(request);
    const again = await send(request);
    assert.equal(again.alreadyExists, true);
    assert.ok(first.traceId && first.traceId.length === 32);
    assert.deepEqual([again.traceId, again.runId, again.workflowId], [first.traceId, first.runId, first.workflowId]);
  });

  it('answers a retry of a scheduled SendNewsletter whose send_at has passed since with already_exists, not INVALID_ARGUMENT', async () => {
    // The first call schedules the newsletter 1 s ahead; its answer is lost, and the caller retries 2 minutes on.
    const sendAt = Timestamp.fromDate(new Date(Date.now() + 1_000));
    const request = { ...valid(), recipients: recipients(2, 'late'), sendAt };
    const first = await send(request);
    const lateRetry = { ...request, sendAt: Timestamp.fromDate(new Date(Date.now() - 120_000)) };
    const again = await send(lateRetry);
    assert.deepEqual([again.alreadyExists, again.runId], [true, first.runId]);
    // A new newsletter with a send_at in the past is still refused.
    const refused = await rpcError(send({ ...lateRetry, newsletterId: newsletterId('late-new') }));
    assert.equal(refused.code, 'INVALID_ARGUMENT');
    assert.match(refused.message, /send_at: .* is in the past/);
  });

  it('answers UNAVAILABLE when Temporal is unreachable', async () => {
    const connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: '1s' });
    // The call waits for Temporal up to TEMPORAL_CALL_TIMEOUT (8 s here), then says it is unreachable, as the
    // bridge's own check of Temporal (2 s deadline, at start) has found by then; a shorter wait raced that check
    // on a loaded CI machine (DEADLINE_EXCEEDED: the bridge did not know yet).
    const limits = { ...stack.config.grpc.limits, temporalCallMs: 8_000 };
    const bridge = await startBridge({
      config: { ...stack.config, grpc: { ...stack.config.grpc, host: '127.0.0.1', port: 0, reflection: true, limits } },
      client: new Client({ connection }),
      logger: createLogger('silent'),
      descriptorDir: new URL('../../contracts/gen/', import.meta.url),
    });
    const transport = new GrpcTransport({
      host: `127.0.0.1:${bridge.port}`,
      channelCredentials: ChannelCredentials.createInsecure(),
    });
    try {
      const client = new NewsletterServiceClient(transport);
      const err = await rpcError(client.sendNewsletter(valid(), stack.auth).response);
      assert.equal(err.code, 'UNAVAILABLE');
      assert.match(err.message, /Temporal is unreachable/);
      // Health says so too: a load balancer sends no traffic to a bridge that cannot reach Temporal.
      const base = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge'];
      for (const service of ['', 'authentik.temporal.v1.NewsletterService']) {
        const { stdout } = await run('buf', [
          ...base,
          '--data',
          JSON.stringify({ service }),
          `http://127.0.0.1:${bridge.port}/grpc.health.v1.Health/Check`,
        ]);
        assert.equal(JSON.parse(stdout).status, 'NOT_SERVING', `service "${service}"`);
      }
    } finally {
      transport.close();
      await bridge.close();
      await connection.close().catch(() => {});
    }
  });

  it('turns reflection off with GRPC_REFLECTION=false (the production default) and reports NOT_SERVING while closing', async () => {
    const bridge = await startBridge({
      config: { ...stack.config, grpc: { ...stack.config.grpc, host: '127.0.0.1', port: 0, reflection: false } },
      client: stack.env.client,
      logger: createLogger('silent'),
      descriptorDir: new URL('../../contracts/gen/', import.meta.url),
    });
    const url = `http://127.0.0.1:${bridge.port}`;
    const base = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge'];
    try {
      await assert.rejects(run('buf', [...base, '--list-methods', url]), /reflection|Unimplemented|unimplemented/);
      // Health needs no reflection when the caller has the schema.
      await eventually(() => bridge.serving() || undefined);
      const schema = ['--schema', 'contracts/gen/health-descriptors.binpb'];
      const { stdout } = await run('buf', [...base, ...schema, '--data', '{}', `${url}/grpc.health.v1.Health/Check`]);
      assert.equal(JSON.parse(stdout).status, 'SERVING', 'health answers without reflection');
    } finally {
      const closing = bridge.close();
      assert.equal(bridge.serving(), false, 'NOT_SERVING from the moment shutdown begins');
      await closing;
    }
  });

  it('refuses to start without INTERNAL_SERVICE_TOKEN when NODE_ENV=production', async () => {
    await assert.rejects(
      startBridge({
        config: {
          ...stack.config,
          production: true,
          internalServiceToken: undefined,
          grpc: { ...stack.config.grpc, host: '127.0.0.1', port: 0, reflection: false },
        },
        client: stack.env.client,
        logger: createLogger('silent'),
        descriptorDir: new URL('../../contracts/gen/', import.meta.url),
      }),
      /INTERNAL_SERVICE_TOKEN is required when NODE_ENV=production/,
    );
  });

  it('refuses to start with a FRONTEND_URL that is not https when NODE_ENV=production (the default one is not)', async () => {
    for (const frontendUrl of ['http://localhost:3000', 'http://news.example.com']) {
      await assert.rejects(
        startBridge({
          config: {
            ...stack.config,
            production: true,
            delivery: { ...stack.config.delivery, frontendUrl },
            grpc: { ...stack.config.grpc, host: '127.0.0.1', port: 0, reflection: false },
          },
          client: stack.env.client,
          logger: createLogger('silent'),
          descriptorDir: new URL('../../contracts/gen/', import.meta.url),
        }),
        /FRONTEND_URL must be https when NODE_ENV=production/,
      );
    }
  });
});

// Its own suite and budget: two 5 MB bodies are parsed and rendered slowly on a slow host, and must not eat the API suite's time.
describe('the largest valid newsletter', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });
  const send = (req: SendNewsletterRequest) => stack.newsletters.sendNewsletter(req, stack.auth).response;

  it('reads and delivers the largest valid newsletter (two 5 MB bodies), and refuses larger ones unread', async () => {
    const big = valid();
    big.htmlContent = `<p>${'x'.repeat(5 * 1024 * 1024 - 7)}</p>`;
    big.textContent = 'y'.repeat(5 * 1024 * 1024);
    const accepted = await send(big);
    assert.equal(accepted.alreadyExists, false, 'a 10 MB request is read and started (gRPC alone stops at 4 MB)');
    // Delivered, whole: not only accepted.
    const done = await eventually(async () => {
      const s = (await stack.newsletters.getNewsletterStatus({ newsletterId: big.newsletterId }, stack.auth).response)
        .status!;
      return s.state === NewsletterState.COMPLETED ? s : undefined;
    }, 120_000);
    assert.equal(done.sent, 3);
    const delivered = stack.mock.resend.received().filter((e) => big.recipients.some((r) => r.email === e.to[0]));
    assert.deepEqual(delivered.map((e) => e.html?.length), [
      big.htmlContent.length,
      big.htmlContent.length,
      big.htmlContent.length,
    ]);
    const huge = valid();
    huge.recipients = recipients(3, 'h').map((r) => ({ ...r, variables: { blob: 'z'.repeat(9 * 1024 * 1024) } }));
    const err = await rpcError(send(huge));
    assert.equal(err.code, 'RESOURCE_EXHAUSTED');
  });
});
