/**
 * Child processes of the benchmark: each runs in its own process group (so a child's
 * children go with it), logs to a file under bench/logs/, and is killed when the
 * benchmark ends, also on failure or Ctrl-C. Plus what /proc says about them: resident
 * memory (sampled) and CPU time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** LOG_DIR holds one log file per child process of the last run. */
export const LOG_DIR = new URL('../logs/', import.meta.url).pathname;

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

/** start runs command in a new process group, its stdout and stderr appended to bench/logs/<name>.log. */
export function start(
  name: string,
  command: string,
  args: string[],
  options: { env?: Record<string, string>; stdout?: 'log' | 'pipe' } = {},
): Child & { process: ChildProcess } {
  mkdirSync(LOG_DIR, { recursive: true });
  const logPath = join(LOG_DIR, `${name}.log`);
  const fd = openSync(logPath, 'w');
  const proc = spawn(command, args, {
    env: { ...process.env, ...options.env },
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
  options: { env?: Record<string, string>; stdout?: 'log' | 'pipe'; nodeFlags?: string[] } = {},
): Child & { process: ChildProcess } {
  // TypeScript sources run through Node's type transform; the production build (.js) runs as is.
  const ts = file.endsWith('.ts') ? ['--experimental-transform-types', '--disable-warning=ExperimentalWarning'] : [];
  const flags = [...ts, ...options.nodeFlags ?? []];
  return start(name, process.execPath, [...flags, file, ...args], options);
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
      throw new Error(`${child.name} exited (${child.exitedAs}) before ${what}; see ${child.logPath}`);
    }
    if (await Promise.resolve(check()).catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(`${child.name}: no ${what} within ${timeoutMs} ms; see ${child.logPath}`);
    }
    await sleep(200);
  }
}

/** rssMb is a process's resident memory (VmRSS) in MB, or 0 when it is gone. */
export function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** cpuSeconds is a process's user + system CPU time so far (its own, not its children's). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Watch samples the resident memory of some processes every 500 ms and measures their CPU time. */
export interface Watch {
  /** end stops sampling: peak RSS (MB) and CPU seconds used while watched, per name. */
  end(): Record<string, { peakRssMb: number; cpuSeconds: number }>;
}

/** watch starts sampling the given processes (name → pid); the benchmark process itself is 'bench'. */
export function watch(pids: Record<string, number>): Watch {
  const all = { bench: process.pid, ...pids };
  const peak: Record<string, number> = {};
  const cpu0 = Object.fromEntries(Object.entries(all).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const sample = () => {
    for (const [name, pid] of Object.entries(all)) peak[name] = Math.max(peak[name] ?? 0, rssMb(pid));
  };
  sample();
  const timer = setInterval(sample, 500);
  timer.unref();
  return {
    end() {
      clearInterval(timer);
      sample();
      return Object.fromEntries(
        Object.entries(all).map((
          [name, pid],
        ) => [name, { peakRssMb: round(peak[name] ?? 0, 1), cpuSeconds: round(cpuSeconds(pid) - cpu0[name]!, 2) }]),
      );
    },
  };
}

/** round keeps digits decimals. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
