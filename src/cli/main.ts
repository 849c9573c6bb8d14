/**
 * `authentik-newsletter`: the service's gRPC API from a terminal (`npx authentik-newsletter`
 * in this repo and in the image). Flags and environment as the service reads them:
 * --address or GRPC_HOST:TEMPORAL_SERVER_PORT, --token or INTERNAL_SERVICE_TOKEN, TLS files (or, for
 * the service the environment configures, TLS as it serves it: GRPC_TLS_CERT).
 * Exit codes (EXIT below) let scripts tell a finished send from a failed one, a usage error
 * from an unreachable service.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { Command, CommanderError, Option } from 'commander';
import { RpcError } from '@protobuf-ts/runtime-rpc';
import {
  createNewsletterClient,
  type NewsletterClient,
  NewsletterStatus,
  SendNewsletterRequest,
  SendNewsletterResponse,
  StartWorkflowResponse,
  WorkflowStatus,
} from '../../contracts/index.ts';
import { describeStatus, EXIT, exitForError, exitForState, type Io, UsageError } from './outcome.ts';
import { watchNewsletter } from './watch.ts';

interface GlobalOptions {
  address?: string;
  token?: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  json?: boolean;
}

/** addressOf is --address, else GRPC_HOST:TEMPORAL_SERVER_PORT as the service binds them (a wildcard host is reached on loopback). */
export function addressOf(options: Pick<GlobalOptions, 'address'>, env: NodeJS.ProcessEnv): string {
  if (options.address) return options.address;
  const host = !env.GRPC_HOST || ['0.0.0.0', '::', '[::]'].includes(env.GRPC_HOST) ? '127.0.0.1' : env.GRPC_HOST;
  // An IPv6 literal takes brackets before its port (::1 → [::1]:50051).
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${bracketed}:${env.TEMPORAL_SERVER_PORT || 50051}`;
}

function readFile(path: string, what: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    throw new UsageError(`${what}: cannot read ${path === '-' ? 'standard input' : path} (${(err as Error).message})`);
  }
}

/**
 * trustedRoots is what the CLI trusts when it reaches the service its environment configures and that service
 * serves TLS (GRPC_TLS_CERT, as .env sets it for `make dev` and the CLI alike) with no --tls-ca: the system's CAs
 * and the service's own certificate, which covers a self-signed one. A certificate from a private CA wants --tls-ca.
 */
const trustedRoots = (serviceCert: string): string =>
  [...rootCertificates, readFile(serviceCert, 'GRPC_TLS_CERT')].join('\n');

function connect(options: GlobalOptions, env: NodeJS.ProcessEnv): NewsletterClient {
  const tlsFiles = { ca: options.tlsCa, cert: options.tlsCert, key: options.tlsKey };
  const anyFile = Object.values(tlsFiles).some(Boolean);
  if (Boolean(tlsFiles.cert) !== Boolean(tlsFiles.key)) throw new UsageError('--tls-cert and --tls-key go together');
  // The service's own settings count only for the service they configure: not for another --address.
  const serviceCert = options.address ? undefined : env.GRPC_TLS_CERT;
  if (serviceCert && env.GRPC_TLS_CLIENT_CA && !tlsFiles.cert) {
    throw new UsageError(
      'the service asks for a client certificate (GRPC_TLS_CLIENT_CA is set): pass --tls-cert and --tls-key ' +
        '(or GRPC_TLS_CLIENT_CERT and GRPC_TLS_CLIENT_KEY)',
    );
  }
  try {
    return createNewsletterClient({
      address: addressOf(options, env),
      token: options.token,
      tls: anyFile || serviceCert
        ? {
          ca: tlsFiles.ca ? readFile(tlsFiles.ca, '--tls-ca') : serviceCert ? trustedRoots(serviceCert) : undefined,
          cert: tlsFiles.cert ? readFile(tlsFiles.cert, '--tls-cert') : undefined,
          key: tlsFiles.key ? readFile(tlsFiles.key, '--tls-key') : undefined,
        }
        : Boolean(options.tls),
    });
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(err.message);
    // The TLS files were read but are not usable (not PEM, a key that is not the certificate's).
    if ((anyFile || serviceCert) && !(err instanceof UsageError)) {
      const files = `--tls-ca, --tls-cert, --tls-key${serviceCert ? ', GRPC_TLS_CERT' : ''}`;
      throw new UsageError(`${files}: not usable PEM (${(err as Error).message})`);
    }
    throw err;
  }
}

/**
 * run runs one command line and resolves with its exit code; it calls process.exit only when Ctrl-C
 * (or SIGTERM) stops a live progress bar, after giving the terminal its cursor back (watch.ts).
 */
export async function run(argv: string[], io: Io = process): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('authentik-newsletter')
    .description('Send and follow Authentik newsletters through authentik-temporal-server.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .addOption(
      new Option('--address <host:port>', 'the bridge (default: GRPC_HOST:TEMPORAL_SERVER_PORT, 127.0.0.1:50051)'),
    )
    .addOption(new Option('--token <token>', 'bearer token').env('INTERNAL_SERVICE_TOKEN'))
    .option('--tls', 'TLS with the system CAs')
    .addOption(new Option('--tls-ca <file>', 'PEM CA to trust (implies TLS)').env('GRPC_TLS_CA'))
    .addOption(new Option('--tls-cert <file>', 'PEM client certificate, for mTLS').env('GRPC_TLS_CLIENT_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM client key, for mTLS').env('GRPC_TLS_CLIENT_KEY'))
    .option('--json', 'machine-readable output: one JSON object per line')
    .addHelpText(
      'after',
      '\nExit codes: 0 completed (or done as asked), 1 completed with failures, 2 cancelled or failed,\n' +
        '3 usage (bad input, unknown id, wrong state), 4 unreachable, too slow or unauthenticated.',
    );
  const opts = () => program.opts<GlobalOptions>();
  const print = (json: object, text: string) => io.stdout.write(`${opts().json ? JSON.stringify(json) : text}\n`);
  const withClient = async (action: (client: NewsletterClient) => Promise<void>) => {
    const client = connect(opts(), io.env);
    try {
      await action(client);
    } finally {
      client.close();
    }
  };
  const showStatus = (status: NewsletterStatus | undefined, options: { owed?: boolean } = {}) => {
    if (!status) throw new Error('the service answered without a status');
    print(NewsletterStatus.toJson(status) as object, describeStatus(status, options));
    return status;
  };

  program.command('send')
    .description('start a newsletter from the JSON form of SendNewsletterRequest ("-": standard input)')
    .argument('<file>', 'JSON file, or - for standard input')
    .option('--watch', 'then watch it to the end (exit code by its outcome)')
    .action(async (file: string, local: { watch?: boolean }) => {
      let request: SendNewsletterRequest;
      try {
        request = SendNewsletterRequest.fromJsonString(readFile(file, 'send'));
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`send: ${file} is not a SendNewsletterRequest in JSON: ${(err as Error).message}`);
      }
      await withClient(async (client) => {
        const { response } = await client.newsletters.sendNewsletter(request);
        print(
          SendNewsletterResponse.toJson(response) as object,
          // Already there: started before, by another call or by this one's own retry after a lost
          // answer (the client retries UNAVAILABLE); either way it is sent once.
          `started ${response.workflowId}${
            response.alreadyExists ? ' (it was already started: it is sent once, whoever started it)' : ''
          }`,
        );
        if (local.watch) code = await watchNewsletter(client, response.newsletterId, { json: opts().json, io });
      });
    });

  program.command('status').description("show a newsletter's status").argument('<id>', 'newsletter id')
    .action(async (newsletterId: string) => {
      await withClient(async (client) => {
        const { response } = await client.newsletters.getNewsletterStatus({ newsletterId });
        code = exitForState(showStatus(response.status, { owed: true }).state);
      });
    });

  program.command('watch')
    .description('follow a newsletter to its end: a live progress bar on a terminal, one line per change otherwise')
    .argument('<id>', 'newsletter id')
    .action(async (newsletterId: string) => {
      await withClient(async (client) => {
        code = await watchNewsletter(client, newsletterId, { json: opts().json, io });
      });
    });

  program.command('cancel').description('cancel a newsletter (what was sent stays sent)').argument('<id>')
    .option('--reason <text>', 'why, kept with the newsletter', '')
    .action(async (newsletterId: string, local: { reason: string }) => {
      await withClient(async (client) => {
        showStatus((await client.newsletters.cancelNewsletter({ newsletterId, reason: local.reason }).response).status);
      });
    });

  program.command('pause').description('pause a newsletter').argument('<id>').action(async (newsletterId: string) => {
    await withClient(async (client) => {
      showStatus((await client.newsletters.pauseNewsletter({ newsletterId }).response).status);
    });
  });

  program.command('resume').description('resume a paused newsletter').argument('<id>')
    .action(async (newsletterId: string) => {
      await withClient(async (client) => {
        showStatus((await client.newsletters.resumeNewsletter({ newsletterId }).response).status);
      });
    });

  const workflows = program.command('workflows').description('the generic WorkflowService');
  const argsJson = (value: string | undefined, what: string) => {
    const text = value === undefined ? '[]' : value.startsWith('@') ? readFile(value.slice(1), what) : value;
    try {
      JSON.parse(text);
    } catch (err) {
      throw new UsageError(`${what}: not JSON (${(err as Error).message})`);
    }
    return text;
  };
  workflows.command('start').description('start a registered workflow type').argument('<type>')
    .option('--id <workflow-id>', 'workflow id (default: generated)', '')
    .option('--args <json|@file>', 'the arguments as a JSON array')
    .action(async (workflowType: string, local: { id: string; args?: string }) => {
      await withClient(async (client) => {
        const { response } = await client.workflows.startWorkflow({
          workflowType,
          workflowId: local.id,
          argsJson: argsJson(local.args, '--args'),
        });
        print(
          StartWorkflowResponse.toJson(response) as object,
          `started ${response.workflowId} (run ${response.runId})`,
        );
      });
    });
  workflows.command('result').description("a workflow's status and result").argument('<workflow-id>')
    .option('--wait', 'wait until it ends')
    .action(async (workflowId: string, local: { wait?: boolean }) => {
      await withClient(async (client) => {
        const { response } = await client.workflows.getWorkflowResult(
          { workflowId, runId: '', wait: Boolean(local.wait) },
          local.wait ? { timeout: 24 * 3_600_000 } : {},
        );
        const status = WorkflowStatus[response.status];
        print(
          {
            status,
            result: response.resultJson ? JSON.parse(response.resultJson) : null,
            failure: response.failureMessage,
          },
          `${workflowId}: ${status}${response.resultJson ? ` ${response.resultJson}` : ''}${
            response.failureMessage ? ` (${response.failureMessage})` : ''
          }`,
        );
        const failed = [
          WorkflowStatus.FAILED,
          WorkflowStatus.CANCELED,
          WorkflowStatus.TERMINATED,
          WorkflowStatus.TIMED_OUT,
        ];
        if (failed.includes(response.status)) code = EXIT.cancelledOrFailed;
      });
    });
  workflows.command('signal').description('send a signal to a workflow').argument('<workflow-id>').argument('<signal>')
    .option('--args <json|@file>', "the signal's arguments as a JSON array")
    .action(async (workflowId: string, signalName: string, local: { args?: string }) => {
      await withClient(async (client) => {
        await client.workflows.signalWorkflow({ workflowId, signalName, argsJson: argsJson(local.args, '--args') });
        print({ signalled: workflowId, signal: signalName }, `signalled ${signalName} to ${workflowId}`);
      });
    });
  workflows.command('cancel').description('cancel a workflow').argument('<workflow-id>')
    .option('--reason <text>', 'why', '')
    .action(async (workflowId: string, local: { reason: string }) => {
      await withClient(async (client) => {
        await client.workflows.cancelWorkflow({ workflowId, reason: local.reason });
        print({ cancelled: workflowId }, `cancel requested for ${workflowId}`);
      });
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with commander's own code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const exit = exitForError(err);
    if (program.opts<GlobalOptions>().json) {
      // One JSON object per line, errors too: a script reads the gRPC code instead of parsing text.
      const rpcCode = err instanceof RpcError ? err.code : null;
      io.stderr.write(`${JSON.stringify({ error: (err as Error).message, code: rpcCode, exit })}\n`);
      return exit;
    }
    const message = err instanceof RpcError ? `${err.code}: ${err.message}` : (err as Error).message;
    io.stderr.write(`authentik-newsletter: ${message}\n`);
    return exit;
  }
}

/**
 * isEntryPoint says whether this module is the one Node was asked to run: import.meta.main
 * where the runtime has it (Node ≥ 22.18, Deno), else the script path (Node 22.15–22.17).
 */
export function isEntryPoint(meta: { main?: boolean; url: string }, script: string | undefined): boolean {
  if (typeof meta.main === 'boolean') return meta.main;
  return script !== undefined && fileURLToPath(meta.url) === resolve(script);
}

/** main runs the CLI as a process: the command line's exit code becomes the process's. */
export async function main(argv: string[]): Promise<void> {
  // A reader that stops early (`watch … | head`) closes the pipe: end quietly, as Unix tools do,
  // instead of dying of an unhandled EPIPE with a stack trace on stderr.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(EXIT.ok);
  });
  process.exitCode = await run(argv);
}

if (isEntryPoint(import.meta, process.argv[1])) await main(process.argv.slice(2));
