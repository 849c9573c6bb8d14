/** The contract against the containerized bridge: the generated client and buf curl, health and reflection. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RpcError } from '@protobuf-ts/runtime-rpc';
import { NewsletterState } from '../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { auth, newsletterRequest, recipients, TOKEN } from '../test/support/fixtures.ts';
import { finalStatus } from '../test/support/grpc.ts';
import { useStack } from './harness.ts';

const run = promisify(execFile);

describe('e2e: contract', { timeout: 600_000 }, () => {
  // The image runs with NODE_ENV=production, where reflection is off unless asked for.
  const stack = useStack({ GRPC_REFLECTION: 'true' });

  it('serves the generated client: send, status, and field-named validation errors', async () => {
    const sent = await stack.service.newsletters.sendNewsletter(
      newsletterRequest('e2e-contract', recipients(5, 'ct')),
      auth,
    )
      .response;
    assert.equal(sent.workflowId, 'newsletter-e2e-contract');
    assert.equal((await finalStatus(stack.service, 'e2e-contract')).state, NewsletterState.COMPLETED);
    const bad = newsletterRequest('e2e-contract-bad', recipients(2, 'cb'));
    bad.recipients[1]!.email = 'nope';
    await assert.rejects(stack.service.newsletters.sendNewsletter(bad, auth).response, (err: unknown) => {
      assert.ok(err instanceof RpcError);
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, /recipients\[1\]\.email/);
      return true;
    });
  });

  it('runs as a non-root user that can write /tmp and nothing else, as docker-compose.yml runs it', async () => {
    const sh = (script: string) => stack.service.container.exec(['sh', '-c', script]);
    const user = await sh('id -u');
    assert.equal(user.exitCode, 0);
    assert.notEqual(user.output.trim(), '0', 'not root');
    const app = await sh('touch /app/written 2>&1');
    assert.notEqual(app.exitCode, 0, 'the application directory is not writable');
    assert.match(app.output, /Read-only file system/);
    const etc = await sh('touch /written 2>&1');
    assert.match(etc.output, /Read-only file system/);
    assert.equal((await sh('touch /tmp/written')).exitCode, 0, '/tmp is');
  });

  it('ships the CLI: npx authentik-newsletter inside the container finds the service from its own environment', async () => {
    // npm writes its cache under HOME; the root filesystem is read-only, /tmp is not.
    const cli = await stack.service.container.exec([
      'sh',
      '-c',
      'HOME=/tmp npx --offline authentik-newsletter --json status e2e-contract; echo "exit=$?"',
    ]);
    assert.match(cli.output, /exit=0/, cli.output);
    const line = cli.output.split('\n').find((l) => l.startsWith('{'));
    assert.ok(line, cli.output);
    assert.equal(JSON.parse(line).state, 'NEWSLETTER_STATE_COMPLETED');
  });

  it('lists and calls everything with buf curl through reflection, and reports health', async () => {
    const url = `http://127.0.0.1:${stack.service.grpcPort}`;
    const base = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge'];
    const { stdout: methods } = await run('buf', [...base, '--list-methods', url]);
    assert.match(methods, /authentik\.temporal\.v1\.NewsletterService\/SendNewsletter/);
    assert.match(methods, /authentik\.temporal\.v1\.WorkflowService\/GetWorkflowResult/);
    const { stdout: health } = await run('buf', [...base, '--data', '{}', `${url}/grpc.health.v1.Health/Check`]);
    assert.equal(JSON.parse(health).status, 'SERVING');
    const { stdout: status } = await run('buf', [
      ...base,
      '-H',
      `authorization: Bearer ${TOKEN}`,
      '--data',
      '{"newsletter_id": "e2e-contract"}',
      `${url}/authentik.temporal.v1.NewsletterService/GetNewsletterStatus`,
    ]);
    assert.equal(JSON.parse(status).status.state, 'NEWSLETTER_STATE_COMPLETED');
    await assert.rejects(
      run('buf', [
        ...base,
        '--data',
        '{"newsletter_id": "x"}',
        `${url}/authentik.temporal.v1.NewsletterService/GetNewsletterStatus`,
      ]),
      /Unauthenticated|unauthenticated/,
    );
  });
});
