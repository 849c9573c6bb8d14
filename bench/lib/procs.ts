/**
 * The benchmark's child processes (test/support/processes.ts, logging into bench/logs/)
 * and what /proc says about them: resident memory (sampled) and CPU time.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  type Child,
  killAll,
  logText,
  start as startIn,
  startBuilt as startBuiltIn,
  startNode as startNodeIn,
  type StartOptions,
  stop,
  waitUntil,
} from '../../test/support/processes.ts';
import { fileURLToPath } from 'node:url';

export { type Child, killAll, logText, stop, waitUntil };

/** LOG_DIR holds one log file per child process of the last run. */
export const LOG_DIR = fileURLToPath(new URL('../logs/', import.meta.url));

type Options = Omit<StartOptions, 'logDir'>;

/** start runs command in a new process group, logging to bench/logs/<name>.log. */
export const start = (name: string, command: string, args: string[], options: Options = {}) =>
  startIn(name, command, args, { ...options, logDir: LOG_DIR });

/** startNode runs a .ts (with type stripping) or .js file with this Node, logging to bench/logs/<name>.log. */
export const startNode = (
  name: string,
  file: string,
  args: string[] = [],
  options: Options & { nodeFlags?: string[] } = {},
) => startNodeIn(name, file, args, { ...options, logDir: LOG_DIR });

/** startBuilt runs the production build as `npm start` does, logging to bench/logs/<name>.log. */
export const startBuilt = (name: string, args: string[], options: Options & { nodeOptions?: string[] } = {}) =>
  startBuiltIn(name, args, { ...options, logDir: LOG_DIR });

/** rssMb is a process's resident memory (VmRSS) in MB, or 0 when it is gone. */
export function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * resetPeak clears the kernel's record of a process's peak resident memory (VmHWM), so that what
 * it says next is the peak since now; false where that is not allowed (then sampling alone counts).
 */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** peakRssMb is a process's peak resident memory (VmHWM) in MB, or 0 when it is gone. */
export function peakRssMb(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
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

/**
 * Watch measures the peak resident memory of some processes (the kernel's VmHWM, reset when the
 * watch starts; and samples every 500 ms, which alone could miss a short peak) and their CPU time.
 */
export interface Watch {
  /** end stops sampling: peak RSS (MB) and CPU seconds used while watched, per name. */
  end(): Record<string, { peakRssMb: number; cpuSeconds: number }>;
}

/** watch starts sampling the given processes (name → pid); the benchmark process itself is 'bench'. */
export function watch(pids: Record<string, number>): Watch {
  const all = { bench: process.pid, ...pids };
  const peak: Record<string, number> = {};
  const cpu0 = Object.fromEntries(Object.entries(all).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const reset = Object.fromEntries(Object.entries(all).map(([name, pid]) => [name, resetPeak(pid)]));
  const sample = () => {
    for (const [name, pid] of Object.entries(all)) peak[name] = Math.max(peak[name] ?? 0, rssMb(pid));
  };
  const kernelPeak = () => {
    for (const [name, pid] of Object.entries(all)) if (reset[name]) peak[name] = Math.max(peak[name]!, peakRssMb(pid));
  };
  sample();
  const timer = setInterval(sample, 500);
  timer.unref();
  return {
    end() {
      clearInterval(timer);
      sample();
      kernelPeak();
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
