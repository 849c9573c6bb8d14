/**
 * The benchmark's output: rows of figures with their targets and verdicts, printed as a
 * table and written with every raw measurement and the machine to bench/results.json.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { ADDED_SERVICE_ENV, memoryEnv, WORKER_MEMORY } from './settings.ts';

/** Target is a bound a figure must meet; bool targets hold when the value is true. */
export type Target = { op: '<=' | '<' | '>='; value: number } | { op: 'true' };

/** Row is one line of the table. */
export interface Row {
  scenario: string;
  measure: string;
  /** value is the figure; null when it was not measured (scenario skipped, failed or timed out). */
  value: number | boolean | null;
  /** shown is how the value is printed (e.g. "TIMEOUT", "12.3 s"). */
  shown: string;
  target?: Target;
  verdict?: string;
}

const targetText = (t: Target) =>
  t.op === 'true' ? 'yes' : `${t.op === '>=' ? '≥' : t.op === '<=' ? '≤' : '<'} ${t.value}`;

/** verdict is PASS or MISS and by how much, or '—' without a value. */
export function verdict(value: number | boolean | null, target: Target): string {
  if (value === null) return '—';
  if (target.op === 'true') return value === true ? 'PASS' : 'MISS';
  const v = Number(value);
  const pass = target.op === '>=' ? v >= target.value : target.op === '<' ? v < target.value : v <= target.value;
  const pct = Math.abs((v - target.value) / target.value) * 100;
  const by = pct >= 10 ? pct.toFixed(0) : pct.toFixed(1);
  if (target.op === '>=') return pass ? `PASS (${by}% above)` : `MISS (${by}% below)`;
  return pass ? `PASS (${by}% under)` : `MISS (${by}% over)`;
}

/** Report collects rows and raw details. */
export class Report {
  readonly rows: Row[] = [];
  readonly details: Record<string, unknown> = {};
  readonly started = new Date();

  /** add records a figure; unit and digits shape how it prints. */
  add(
    scenario: string,
    measure: string,
    value: number | boolean | null | 'TIMEOUT' | 'ERROR',
    options: { unit?: string; digits?: number; target?: Target; note?: string } = {},
  ): void {
    const missing = value === null || value === 'TIMEOUT' || value === 'ERROR';
    const shown = value === null
      ? 'not run'
      : value === 'TIMEOUT' || value === 'ERROR'
      ? value
      : typeof value === 'boolean'
      ? (value ? 'yes' : 'no')
      : `${value.toFixed(options.digits ?? 2)}${options.unit ? ` ${options.unit}` : ''}`;
    const row: Row = {
      scenario,
      measure,
      value: missing ? null : value,
      shown: options.note ? `${shown} (${options.note})` : shown,
      ...(options.target ? { target: options.target } : {}),
    };
    if (options.target) row.verdict = missing ? (value === null ? '—' : 'MISS') : verdict(row.value, options.target);
    this.rows.push(row);
    process.stderr.write(`  ${scenario}: ${measure}: ${row.shown}${row.verdict ? `  [${row.verdict}]` : ''}\n`);
  }

  /** text records a line whose value is text (a breakdown), with no target. */
  text(scenario: string, measure: string, text: string | null): void {
    this.rows.push({ scenario, measure, value: null, shown: text ?? 'not run' });
  }

  /** table renders the rows as a Markdown table (readable as plain text too). */
  table(): string {
    const header = ['scenario', 'measure', 'value', 'target', 'verdict'];
    const lines = this.rows.map((
      r,
    ) => [r.scenario, r.measure, r.shown, r.target ? targetText(r.target) : '', r.verdict ?? '']);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => [...l[i]!].length)));
    const fmt = (cells: string[]) =>
      `| ${cells.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join(' | ')} |`;
    return [fmt(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
  }

  /** write saves results.json: the machine, every row and every raw measurement. */
  write(path: string): void {
    writeFileSync(
      path,
      JSON.stringify(
        {
          machine: machine(),
          started: this.started.toISOString(),
          finished: new Date().toISOString(),
          only: process.env.BENCH_ONLY || 'all',
          commit: commit(),
          workerMemory: WORKER_MEMORY,
          serviceEnv: ADDED_SERVICE_ENV,
          memoryEnv,
          rows: this.rows,
          details: this.details,
        },
        // A scenario not run is null in the file, not a missing key.
        (_key, value) => value === undefined ? null : value,
        2,
      ) + '\n',
    );
  }
}

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // cpus().length stands in.
  }
  return {
    nproc,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/**
 * commit names what was measured: HEAD, with "+changes" when tracked files differ from it (the results files
 * aside: every run rewrites one); null outside a git checkout.
 */
function commit(): string | null {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const changed = execFileSync(
      'git',
      ['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)bench/results*.json'],
      { encoding: 'utf8' },
    ).trim();
    return changed ? `${head}+changes` : head;
  } catch {
    return null;
  }
}
