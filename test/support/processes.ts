/**
 * Child processes for suites that run the service as operators do (the chaos suite, the
 * benchmark): each runs in its own process group (so a child's children go with it),
 * logs to a file, and is killed when this process exits, also on failure or Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** Child is a running child process. */
export interface Child {
  name: string;
  pid: number;
  logPath: string;
  /** exited resolves with the exit code (or the signal's name) once the process is gone. */
  exited: Promise<number | string>;
  /** exitedAs is set once the process is gone. */
  exitedAs?: number | string;
}

const children = new Set<Child>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** killAll kills every child's process group at once (SIGKILL); safe in an 'exit' handler. */
export function killAll(): void {
  for (const child of children) if (child.exitedAs === undefined) killGroup(child.pid, 'SIGKILL');
}

process.on('exit', killAll);

/** StartOptions: the child's environment (added to this one's), where its output goes. */
export interface StartOptions {
  env?: Record<string, string>;
  /** cwd is the child's working directory (this process's by default). */
  cwd?: string;
  /** logDir receives <name>.log with the child's stdout (unless piped) and stderr. */
  logDir: string;
  stdout?: 'log' | 'pipe';
}

/** start runs command in a new process group, its stdout and stderr written to <logDir>/<name>.log. */
export function start(
  name: string,
  command: string,
  args: string[],
  options: StartOptions,
): Child & { process: ChildProcess } {
  mkdirSync(options.logDir, { recursive: true });
  const logPath = join(options.logDir, `${name}.log`);
  const fd = openSync(logPath, 'w');
  const proc = spawn(command, args, {
    env: { ...process.env, ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    detached: true,
    stdio: ['ignore', options.stdout === 'pipe' ? 'pipe' : fd, fd],
  });
  closeSync(fd);
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const child: Child & { process: ChildProcess } = {
    name,
    pid: proc.pid,
    logPath,
    process: proc,
    exited: new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        child.exitedAs = code ?? signal ?? 'unknown';
        children.delete(child);
        resolve(child.exitedAs);
      });
    }),
  };
  children.add(child);
  return child;
}

/** node runs a TypeScript file with this Node and its type-stripping flags. */
export function startNode(
  name: string,
  file: string,
  args: string[] = [],
  options: StartOptions & { nodeFlags?: string[] },
): Child & { process: ChildProcess } {
  // TypeScript sources run through Node's type transform; the production build (.js) runs as is.
  const ts = file.endsWith('.ts') ? ['--experimental-transform-types', '--disable-warning=ExperimentalWarning'] : [];
  const flags = [...ts, ...options.nodeFlags ?? []];
  return start(name, process.execPath, [...flags, file, ...args], options);
}

/** START is `npm start`'s command (package.json): the production build. */
const START: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).scripts.start;

/**
 * startBuilt runs the production build with `npm start`'s command, from the repo root; the
 * shell execs it (through env, should the script set variables), so the child's pid is the
 * service's own. nodeOptions adds flags such as --cpu-prof to the environment's NODE_OPTIONS.
 */
export function startBuilt(
  name: string,
  args: string[],
  options: StartOptions & { nodeOptions?: string[] },
): Child & { process: ChildProcess } {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const nodeOptions = [options.env?.NODE_OPTIONS ?? '', ...options.nodeOptions ?? []].filter(Boolean);
  const env = nodeOptions.length ? { ...options.env, NODE_OPTIONS: nodeOptions.join(' ') } : options.env;
  return start(name, 'sh', ['-c', `exec env ${START} "$@"`, 'sh', ...args], { ...options, env, cwd: root });
}

/** kill SIGKILLs the child's process group at once (a crash: no drain, no goodbye) and waits until it is gone. */
export async function kill(child: Child): Promise<void> {
  if (child.exitedAs !== undefined) return;
  killGroup(child.pid, 'SIGKILL');
  await child.exited;
}

/** stop sends SIGTERM to the child's process group, then SIGKILL after graceMs. */
export async function stop(child: Child, graceMs = 10_000): Promise<void> {
  if (child.exitedAs !== undefined) return;
  killGroup(child.pid, 'SIGTERM');
  const gone = await Promise.race([child.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!gone) {
    killGroup(child.pid, 'SIGKILL');
    await child.exited;
  }
}

/** logText is what the child wrote so far. */
export function logText(child: Child): string {
  try {
    return readFileSync(child.logPath, 'utf8');
  } catch {
    return '';
  }
}

/** logTail is the last lines the child wrote, for an error message that says why without opening the file. */
export function logTail(child: Child, lines = 15): string {
  return logText(child).trimEnd().split('\n').slice(-lines).join('\n');
}

/** waitUntil polls check until it holds; it fails when the child exits first or timeoutMs passes. */
export async function waitUntil(
  child: Child,
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitedAs !== undefined) {
      throw new Error(
        `${child.name} exited (${child.exitedAs}) before ${what}; ${child.logPath} ends with:\n${logTail(child)}`,
      );
    }
    if (await Promise.resolve(check()).catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${child.name}: no ${what} within ${timeoutMs} ms; ${child.logPath} ends with:\n${logTail(child)}`,
      );
    }
    await sleep(200);
  }
}
