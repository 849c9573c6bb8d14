/**
 * runCli runs `npx authentik-newsletter` as an operator does, from the repo root, and resolves
 * with its exit code and output (never rejects: a non-zero exit is an answer the tests read).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Ran is what a CLI process left behind. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** runCli: env is added to this process's environment; input, when given, is the CLI's stdin. */
export function runCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(
      'npx',
      ['authentik-newsletter', ...args],
      { cwd: root, env: { ...process.env, ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr }),
    );
    child.stdin!.end(input);
  });
}
