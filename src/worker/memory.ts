/**
 * The worker's memory profile. V8's defaults size a heap for throughput on a big machine: a
 * young generation of up to 128 MB per isolate (the worker has two: its main thread and the
 * workflow thread) and an old generation that grows to about twice what is live before a full
 * collection. A sending worker allocates steadily (pages, rendered emails, request bodies) and
 * keeps little, so with those defaults its RSS climbs for minutes (757 MB at 1M recipients,
 * a third of it live). `lean` grows the old generation by 30% of what is live and gives the
 * isolates the worker creates (the workflow thread's) 1 MB semi-spaces; `npm start` sizes the
 * main thread's young generation (--max-semi-space-size=4) and glibc's arenas
 * (MALLOC_ARENA_MAX=2), which only a process's start can. Together: 289 MB at 1M, for more
 * CPU per email on a CPU-bound send (bench/README.md "Memory"). `v8` keeps V8's own sizing.
 */
import { setFlagsFromString } from 'node:v8';

export type MemoryProfile = 'lean' | 'v8';

/** LEAN_FLAGS: --heap-growing-percent is read at every collection (every isolate, at once); the semi-space cap applies to isolates created afterwards. */
const LEAN_FLAGS = ['--heap-growing-percent=30', '--max-semi-space-size=1'] as const;

/**
 * applyMemoryProfile sets the profile's V8 flags for this process; call it before the
 * worker creates its workflow thread.
 */
export function applyMemoryProfile(profile: MemoryProfile): void {
  if (profile === 'lean') { for (const flag of LEAN_FLAGS) setFlagsFromString(flag); }
}
