/**
 * How every Temporal dev server of this repo is started (`make dev`, the integration
 * harness, the e2e container, docker-compose.yml): with task-queue fairness on, so a
 * small newsletter is not stuck behind a big one on a provider's queue, and with one
 * task-queue partition, so the provider rate limits are exact rather than averaged over
 * four partitions. The dev server has a single history shard, whose transfer queue (it
 * hands every new workflow and activity task to matching) is read at most 20 times a
 * second by default: ~40 ms added to every dispatch (measured by `make bench`), so it may
 * be read up to 1,000 times a second. A production cluster needs the same dynamic config
 * (README, "Rate limits and fairness").
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, string>> = {
  'matching.useNewMatcher': 'true',
  'matching.enableFairness': 'true',
  'matching.numTaskqueueReadPartitions': '1',
  'matching.numTaskqueueWritePartitions': '1',
  'history.transferProcessorMaxPollRPS': '1000',
};

/** devServerArgs are the `temporal server start-dev` flags for DEV_SERVER_DYNAMIC_CONFIG. */
export function devServerArgs(): string[] {
  return Object.entries(DEV_SERVER_DYNAMIC_CONFIG).flatMap((
    [key, value],
  ) => ['--dynamic-config-value', `${key}=${value}`]);
}
