/**
 * Summarizes a V8 CPU profile (`BENCH_CPU_PROFILE=1 make bench` writes one per thread of each
 * worker into bench/logs/<process>.cpuprofiles/): where the time went by package, by function
 * (self) and by call path (inclusive), each as a share of the profile's whole time, idle included.
 *
 *   node --experimental-transform-types bench/cpu-profile.ts bench/logs/ours-worker1.cpuprofiles/CPU.*.cpuprofile
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const TOP = 25;

/** where names a frame by function, file (relative to node_modules or the checkout) and line. */
function where(frame: CallFrame): string {
  const file = frame.url.replace(/.*node_modules\//, '').replace(/^file:\/\/.*?\/(dist|src)\//, '$1/');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

/** packageOf is the npm package, Node's own code, or the checkout's folder a frame belongs to. */
function packageOf(frame: CallFrame): string {
  if (!frame.url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const npm = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(frame.url);
  if (npm) return npm[1]!;
  if (frame.url.startsWith('node:')) return 'node';
  // The checkout's own code: its folder (dist/src/activities), or the file at the top of dist/ (the workflow bundle).
  const own = frame.url.replace(/^file:\/\/.*?\/((dist|src|bench|test)\/)/, '$1');
  const parts = own.split('/');
  return parts.length <= 2 ? own : parts.slice(0, -1).join('/');
}

function summarize(path: string): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parents = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parents.set(child, n.id);
  const timeOf = new Map<number, number>();
  profile.samples.forEach((id, i) => timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...timeOf.values()].reduce((a, b) => a + b, 0);
  const self = new Map<string, number>();
  const packages = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, t: number) => map.set(key, (map.get(key) ?? 0) + t);
  for (const [id, t] of timeOf) {
    const frame = nodes.get(id)!.callFrame;
    add(self, where(frame), t);
    add(packages, packageOf(frame), t);
    // Each function once per sample, however deep it recurses.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const key = where(nodes.get(at)!.callFrame);
      if (!seen.has(key)) add(inclusive, key, t);
      seen.add(key);
    }
  }
  const share = (t: number) => `${(100 * t / total).toFixed(1).padStart(5)}%`;
  const top = (map: Map<string, number>, skip = /^$/) =>
    [...map].filter(([k]) => !skip.test(k)).sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([k, t]) =>
      `  ${share(t)}  ${k}`
    );
  return [
    `${path}: ${(total / 1e6).toFixed(1)} s profiled`,
    'by package:',
    ...top(packages),
    'by function (self):',
    ...top(self),
    'by call path (inclusive):',
    ...top(
      inclusive,
      /^\((root|program|idle|garbage collector)\)|^(processTicksAndRejections|listOnTimeout|processTimers) /,
    ),
  ].join('\n');
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  process.stderr.write('usage: bench/cpu-profile.ts <file.cpuprofile>...\n');
  process.exit(2);
}
for (const path of paths) process.stdout.write(`${summarize(path)}\n\n`);
