/**
 * `authentik-newsletter watch`: follows WatchNewsletter to the newsletter's end. On a
 * terminal, a live progress bar (cli-progress) with sent/failed/skipped, rate and ETA; on
 * anything else, one plain line per change; with --json, one status object per line.
 */
import { SingleBar } from 'cli-progress';
import { type NewsletterClient, NewsletterState, NewsletterStatus } from '../../contracts/index.ts';
import { describeStatus, exitForState, type Io } from './outcome.ts';

const FINAL = new Set([
  NewsletterState.COMPLETED,
  NewsletterState.COMPLETED_WITH_FAILURES,
  NewsletterState.CANCELLED,
  NewsletterState.FAILED,
]);

/** watchNewsletter watches until a final state and resolves with the exit code for it. */
export async function watchNewsletter(
  client: NewsletterClient,
  newsletterId: string,
  options: { json?: boolean; io: Io },
): Promise<number> {
  const { io } = options;
  const live = !options.json && io.stdout.isTTY === true;
  const bar = live
    ? new SingleBar({
      stream: io.stdout,
      format: '{bar} {percentage}% | {done}/{total} | sent {sent} failed {failed} skipped {skipped} | ' +
        '{rate}/s | ETA {eta_formatted} | {state}',
      barsize: 30,
      barCompleteChar: '\u2588',
      barIncompleteChar: '\u2591',
      hideCursor: true,
      etaBuffer: 20,
      // Redraw often enough for the rate and ETA to move between updates of the stream.
      fps: 5,
    })
    : undefined;
  // The bar hides the cursor: Ctrl-C (or a kill) must give it back before the process ends, as
  // the default end of a signal would not. Exits as a shell reports an interrupted command: 128 + signal.
  const interrupted = (signal: NodeJS.Signals) => {
    bar?.stop();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  if (bar) { for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, interrupted); }
  const started = Date.now();
  let first: number | undefined;
  let last: NewsletterStatus | undefined;
  let lastLine = '';
  const payload = (s: NewsletterStatus) => {
    const done = s.sent + s.failed + s.skipped;
    first ??= done;
    const seconds = (Date.now() - started) / 1000;
    return {
      done,
      sent: s.sent,
      failed: s.failed,
      skipped: s.skipped,
      state: NewsletterState[s.state],
      rate: seconds > 0 ? Math.round((done - first) / seconds) : 0,
    };
  };
  try {
    for await (const { status } of client.newsletters.watchNewsletter({ newsletterId }).responses) {
      if (!status) continue;
      last = status;
      const values = payload(status);
      if (options.json) {
        io.stdout.write(`${JSON.stringify(NewsletterStatus.toJson(status))}\n`);
      } else if (bar) {
        if (!bar.isActive) bar.start(Math.max(status.totalRecipients, 1), values.done, values);
        bar.setTotal(Math.max(status.totalRecipients, 1));
        bar.update(values.done, values);
      } else {
        const line = describeStatus(status);
        if (line !== lastLine) io.stdout.write(`${line}\n`);
        lastLine = line;
      }
      if (FINAL.has(status.state)) break;
    }
  } finally {
    bar?.stop();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.off(signal, interrupted);
  }
  if (!last) throw new Error(`WatchNewsletter ended before any status of ${newsletterId}`);
  if (bar) {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    io.stdout.write(`${describeStatus(last)} — watched for ${seconds} s\n`);
  }
  return exitForState(last.state);
}
