/**
 * The worker's memory profile. V8's defaults size a heap for throughput on a big machine: a
 * young generation of up to 128 MB per isolate (the worker's main thread and its workflow
 * threads: the newsletters' and the results workflows') and an old generation that grows to about twice what is live before a full
 * collection. A sending worker allocates steadily (pages, rendered emails, request bodies) and
 * keeps little, so its RSS climbs for minutes: about 800 MB at 1M recipients, 59 MB of it live heap.
 * `lean` grows the old generation by 30% of what is live and gives the isolates the worker
 * creates (the workflow threads') 1 MB semi-spaces. The main thread's young generation and
 * glibc's allocator are set when the process starts, so lean's full effect also needs
 * NODE_OPTIONS=--max-semi-space-size=4, MALLOC_ARENA_MAX=2 and MALLOC_MMAP_THRESHOLD_=131072 (buffers
 * of 128 KB or more, such as a request body of 100 rendered emails, go back to the system when freed
 * instead of staying in an arena: glibc otherwise raises that threshold as such buffers come and go) in the worker's
 * environment: together 286-298 MB at 1M (2026-11-28, three runs), for 45-56% more CPU-seconds and
 * 25% more time for the million (bench/README.md "Memory profiles"). `v8`, the default, keeps
 * V8's own sizing.
 */
import { setFlagsFromString } from 'node:v8';

export type MemoryProfile = 'lean' | 'v8';

/** LEAN_FLAGS: --heap-growing-percent is read at every collection (every isolate, at once); the semi-space cap applies to isolates created afterwards. */
const LEAN_FLAGS = ['--heap-growing-percent=30', '--max-semi-space-size=1'] as const;

/**
 * applyMemoryProfile sets the profile's V8 flags for this process; call it before the
 * worker creates its workflow threads.
 */
export function applyMemoryProfile(profile: MemoryProfile): void {
  if (profile === 'lean') { for (const flag of LEAN_FLAGS) setFlagsFromString(flag); }
}
