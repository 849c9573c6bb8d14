/**
 * The CLI as an operator runs it: `npx authentik-newsletter` processes against a running
 * bridge. Plain output and --json, the exit codes scripts rely on, and the live progress bar
 * in a real terminal (tmux): it reaches 100% for a sample newsletter.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { NewsletterState } from '../../contracts/gen/authentik/temporal/v1/newsletter.ts';
import { runCli } from '../support/cli.ts';
import { eventually } from '../support/eventually.ts';
import { newsletterId, recipients, TOKEN } from '../support/fixtures.ts';
import { finalStatus } from '../support/grpc.ts';
import { type Stack, startStack } from './harness.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('the CLI (npx authentik-newsletter)', { timeout: 240_000 }, () => {
  let stack: Stack;
  const work = mkdtempSync(join(tmpdir(), 'cli-test-'));
  before(async () => {
    stack = await startStack({ NEWSLETTER_BATCH_SIZE: '5', EMAIL_CONCURRENCY_LIMIT: '2' });
  });
  after(async () => {
    await stack?.close();
    rmSync(work, { recursive: true, force: true });
  });

  /** launcherIn is a checkout named name under the work directory holding this repo's launcher (bin/) and room for a CLI. */
  const launcherIn = (name: string): string => {
    const checkout = join(work, name);
    execFileSync('mkdir', ['-p', join(checkout, 'bin'), join(checkout, 'src/cli')]);
    writeFileSync(
      join(checkout, 'bin/authentik-newsletter.mjs'),
      readFileSync(join(root, 'bin/authentik-newsletter.mjs')),
    );
    return checkout;
  };

  it('runs from a checkout whose path has a space in it', () => {
    // The launcher alone, in such a path, with a CLI that says how it was called.
    const checkout = launcherIn('a checkout');
    writeFileSync(join(checkout, 'src/cli/main.ts'), "console.log('cli ran:', process.argv.slice(2).join(' '));\n");
    const out = execFileSync(process.execPath, [join(checkout, 'bin/authentik-newsletter.mjs'), 'status', 'n1'], {
      encoding: 'utf8',
    });
    assert.equal(out.trim(), 'cli ran: status n1');
  });

  it("reads the checkout's .env as make dev does (the environment wins), so it finds the service it configures", () => {
    const checkout = launcherIn('with-env');
    writeFileSync(
      join(checkout, 'src/cli/main.ts'),
      "console.log(process.env.TEMPORAL_SERVER_PORT, process.env.INTERNAL_SERVICE_TOKEN ?? '-');\n",
    );
    writeFileSync(join(checkout, '.env'), 'TEMPORAL_SERVER_PORT=6123\nINTERNAL_SERVICE_TOKEN=from-dotenv\n');
    const { TEMPORAL_SERVER_PORT: _, INTERNAL_SERVICE_TOKEN: __, ...clean } = process.env;
    const ran = (env: Record<string, string | undefined>) =>
      execFileSync(process.execPath, [join(checkout, 'bin/authentik-newsletter.mjs'), 'status', 'n1'], {
        encoding: 'utf8',
        env,
      }).trim();
    assert.equal(ran(clean), '6123 from-dotenv');
    assert.equal(ran({ ...clean, TEMPORAL_SERVER_PORT: '7000' }), '7000 from-dotenv');
  });

  /** operator is what an operator on the service's machine has: its port and token variables. */
  const operator = () => ({ TEMPORAL_SERVER_PORT: String(stack.bridge.port), INTERNAL_SERVICE_TOKEN: TOKEN });
  const cli = (args: string[], extra: Record<string, string> = {}, input?: string) =>
    runCli(args, { ...operator(), ...extra }, input);
  /** requestFile writes the JSON form of a SendNewsletterRequest (proto field names, as buf curl takes them). */
  const requestFile = (id: string, count: number, prefix: string) => {
    const path = join(work, `${id}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        newsletter_id: id,
        subject: 'Hello {{name}}',
        html_content: '<p>Hello {{name}}</p>',
        recipients: recipients(count, prefix).map((r) => ({
          email: r.email,
          name: r.name,
          recipient_id: r.recipientId,
        })),
      }),
    );
    return path;
  };

  it('sends from a file, watches to the end in plain lines, and exits 0 for a completed newsletter', async () => {
    const id = newsletterId('cli');
    const sent = await cli(['send', requestFile(id, 12, 'cli-a')]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout.trim(), `started newsletter-${id}`);
    assert.equal(sent.stderr, '', 'nothing on stderr when all goes well, with or without a .env in the checkout');
    const watched = await cli(['watch', id]);
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stdout, new RegExp(`^${id}: COMPLETED, 12 of 12 \\(sent 12, failed 0, skipped 0\\)$`, 'm'));
    const again = await cli(['send', requestFile(id, 12, 'cli-a')]);
    assert.match(again.stdout, /already started: it is sent once/);
    const status = await cli(['--json', 'status', id]);
    assert.equal(status.code, 0);
    const json = JSON.parse(status.stdout);
    assert.equal(json.state, 'NEWSLETTER_STATE_COMPLETED');
    assert.equal(json.sent, 12);
  });

  it('shows in status which callbacks the backend has not taken, while it refuses them', async () => {
    const id = newsletterId('cli-owed');
    stack.backend.failNext(1_000_000, 503);
    try {
      assert.equal((await cli(['send', requestFile(id, 12, 'cli-o')])).code, 0);
      const line = await eventually(async () => {
        const shown = await cli(['status', id]);
        return shown.stdout.includes('COMPLETED') ? shown.stdout.trim() : undefined;
      }, 60_000);
      assert.equal(
        line,
        `${id}: COMPLETED, 12 of 12 (sent 12, failed 0, skipped 0); not yet taken by the backend: started, final, ` +
          'results of 3 requests',
      );
    } finally {
      stack.backend.failNext(0, 503);
    }
  });

  it('reads the request from standard input and exits 1 when some recipients failed', async () => {
    const id = newsletterId('cli-fail');
    const list = recipients(6, 'cli-f');
    stack.mock.resend.failAddresses('invalid', [list[2]!.email]);
    const body = JSON.stringify({
      newsletterId: id,
      subject: 'Hi',
      textContent: 'Hi',
      recipients: list.map((r) => ({ email: r.email, name: r.name })),
    });
    const ran = await cli(['send', '-', '--watch'], {}, body);
    assert.equal(ran.code, 1, `${ran.stdout}${ran.stderr}`);
    assert.match(ran.stdout, /COMPLETED_WITH_FAILURES, 6 of 6 \(sent 5, failed 1, skipped 0\)/);
  });

  it('cancels, pauses and resumes, and a cancelled newsletter exits 2', async () => {
    // Slow enough that the newsletter is still on its way when the cancel comes (each npx start takes a moment).
    stack.mock.resend.setLatency(500);
    try {
      const id = newsletterId('cli-ctl');
      assert.equal((await cli(['send', requestFile(id, 300, 'cli-c')])).code, 0);
      const paused = await cli(['pause', id]);
      assert.equal(paused.code, 0, paused.stderr);
      assert.match(paused.stdout, /: PAUSED, /);
      assert.match((await cli(['resume', id])).stdout, /: RUNNING, /);
      const cancelled = await cli(['cancel', id, '--reason', 'wrong list']);
      assert.equal(cancelled.code, 0, cancelled.stderr);
      await finalStatus(stack, id);
      const status = await cli(['status', id]);
      assert.equal(status.code, 2);
      assert.match(status.stdout, /: CANCELLED, .*wrong list/);
    } finally {
      stack.mock.resend.setLatency(0);
    }
  });

  it('exits 3 for bad input or an unknown newsletter, and 4 when unreachable or unauthenticated', async () => {
    const bad = join(work, 'bad.json');
    writeFileSync(bad, '{"newsletter_id": "x", "subjekt": "typo"}');
    const parsed = await cli(['send', bad]);
    assert.equal(parsed.code, 3);
    assert.match(parsed.stderr, /is not a SendNewsletterRequest in JSON/);
    const invalid = await cli(['send', '-'], {}, '{"newsletter_id": "x"}');
    assert.equal(invalid.code, 3);
    assert.match(invalid.stderr, /INVALID_ARGUMENT: .*subject/);
    assert.equal((await cli(['status', 'no-such-newsletter'])).code, 3);
    assert.equal((await cli(['status'])).code, 3, 'a missing argument is a usage error');
    const denied = await cli(['status', 'x'], { INTERNAL_SERVICE_TOKEN: 'wrong' });
    assert.equal(denied.code, 4);
    assert.match(denied.stderr, /UNAUTHENTICATED/);
    assert.ok(!denied.stderr.includes('wrong'), 'the token is not echoed');
    assert.equal((await cli(['status', 'x', '--address', '127.0.0.1:1'])).code, 4);
  });

  it('drives the generic WorkflowService: start and result, and refuses a signal to an unknown workflow', async () => {
    const id = newsletterId('cli-wf');
    const args = JSON.stringify([{
      newsletter_id: id,
      subject: 'Hi',
      text_content: 'Hi',
      recipients: [{ email: 'wf@example.com' }],
    }]);
    const started = await cli(['--json', 'workflows', 'start', 'newsletterWorkflow', '--args', args]);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(JSON.parse(started.stdout).workflowId, `newsletter-${id}`);
    const result = await cli(['workflows', 'result', `newsletter-${id}`, '--wait']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /: COMPLETED /);
    const unknown = await cli(['workflows', 'signal', `newsletter-${randomUUID()}`, 'pause']);
    assert.equal(unknown.code, 3, unknown.stderr);
  });

  it('signals and cancels a running workflow through the generic WorkflowService: a signal it takes none of is refused, the cancel stops it', async () => {
    const id = newsletterId('cli-wf-run');
    const args = JSON.stringify([{
      newsletter_id: id,
      subject: 'Hi',
      text_content: 'Hi',
      // 40 requests, 2 at a time, 1.5 s each: still on its way after two CLI runs on a loaded host.
      recipients: Array.from({ length: 200 }, (_, i) => ({ email: `wr${i}@example.com` })),
    }]);
    stack.mock.resend.setLatency(1_500);
    try {
      assert.equal((await cli(['workflows', 'start', 'newsletterWorkflow', '--args', args])).code, 0);
      await eventually(() => stack.mock.resend.calls().some((c) => c.idempotencyKey?.startsWith(`nl-${id}-`)));
      const signal = await cli(['workflows', 'signal', `newsletter-${id}`, 'pause']);
      assert.equal(signal.code, 3, signal.stderr);
      assert.match(signal.stderr, /PauseNewsletter/);
      const cancel = await cli(['workflows', 'cancel', `newsletter-${id}`]);
      assert.equal(cancel.code, 0, cancel.stderr);
    } finally {
      stack.mock.resend.setLatency(0);
    }
    const status = await finalStatus(stack, id);
    assert.equal(status.state, NewsletterState.CANCELLED);
    assert.ok(status.skipped > 0, 'batches not begun when it was cancelled were never sent');
  });

  /**
   * inTerminal sets the mock's latency, opens a tmux session of its own running command (given the
   * prefix that runs a program in this checkout with the operator's variables), runs body, and
   * tidies up both.
   */
  const inTerminal = async (
    latencyMs: number,
    command: (inCheckout: string) => string,
    body: (terminal: { session: string; tmux(...args: string[]): string; pane(): string }) => Promise<void>,
  ) => {
    stack.mock.resend.setLatency(latencyMs);
    const session = `cli-${randomUUID().slice(0, 8)}`;
    const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
    const vars = Object.entries({ PATH: process.env.PATH, HOME: process.env.HOME, ...operator() })
      .map(([k, v]) => `${k}='${v}'`).join(' ');
    try {
      tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '12', command(`cd ${root} && env ${vars}`));
      await body({ session, tmux, pane: () => tmux('capture-pane', '-p', '-t', session) });
    } finally {
      stack.mock.resend.setLatency(0);
      try {
        tmux('kill-session', '-t', session);
      } catch {
        // already gone
      }
    }
  };

  it('draws a live progress bar in a real terminal that reaches 100% (tmux)', async () => {
    const out = join(work, 'tmux-exit');
    const file = requestFile(newsletterId('cli-tty'), 80, 'cli-t');
    await inTerminal(
      150,
      (inCheckout) => `${inCheckout} npx authentik-newsletter send ${file} --watch; echo $? > ${out}; sleep 60`,
      async ({ pane }) => {
        // The bar is drawn while the newsletter goes (a partial percentage), then reaches 100%.
        const partial = await eventually(() => /\b([1-9]|[1-9]\d)% \| \d+\/80 \| sent/.exec(pane())?.[0], 60_000, 50);
        assert.ok(partial);
        const screen = await eventually(
          () => {
            const text = pane();
            return /100% \| 80\/80 \| sent 80 failed 0 skipped 0/.test(text) && /COMPLETED, 80 of 80/.test(text)
              ? text
              : undefined;
          },
          90_000,
          200,
        );
        assert.match(screen, /█+/, 'a bar is drawn');
        assert.match(screen, /ETA/);
        assert.equal((await eventually(() => readExit(out), 10_000)).trim(), '0');
      },
    );
  });

  it('gives the terminal its cursor back when Ctrl-C stops a live bar, and exits 130 (tmux)', async () => {
    const out = join(work, 'tmux-interrupted');
    const file = requestFile(newsletterId('cli-int'), 300, 'cli-i');
    await inTerminal(
      400,
      // The shell traps INT so it lives on to record the exit code (its children get the default).
      (inCheckout) =>
        `trap 'true' INT; ${inCheckout} node bin/authentik-newsletter.mjs send ${file} --watch; echo $? > ${out}; sleep 60`,
      async ({ session, tmux, pane }) => {
        const cursorShown = () => tmux('display', '-p', '-t', session, '#{cursor_flag}').trim() === '1';
        await eventually(() => /% \| \d+\/300 \| sent/.test(pane()), 60_000, 50);
        assert.equal(cursorShown(), false, 'the bar hides the cursor while it draws');
        tmux('send-keys', '-t', session, 'C-c');
        assert.equal((await eventually(() => readExit(out), 10_000)).trim(), '130');
        assert.equal(cursorShown(), true, 'the cursor is back');
      },
    );
  });
});

function readExit(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') || undefined : undefined;
}
