// Query latency: sysbench `oltp_point_select` against MariaDB through a chain. `--histogram` gives the
// whole latency distribution, from which p95 and p99 are read (sysbench itself prints one percentile).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface SysbenchResult {
  threads: number;
  queries: number;
  qps: number;
  avgMs: number;
  p95Ms: number;
  p99Ms: number;
  errors: number;
}

export class SysbenchError extends Error {
  readonly code = 'E_BENCH_SYSBENCH';
}

export interface MySqlTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

function commonArgs(t: MySqlTarget, tableSize: number): string[] {
  return [
    'oltp_point_select',
    '--db-driver=mysql',
    `--mysql-host=${t.host}`,
    `--mysql-port=${t.port}`,
    `--mysql-user=${t.user}`,
    `--mysql-password=${t.password}`,
    `--mysql-db=${t.database}`,
    '--tables=1',
    `--table-size=${tableSize}`,
  ];
}

/** Parses sysbench's text report (1.0.x) run with `--histogram=on`. */
export function parseSysbenchOutput(text: string, threads: number): SysbenchResult {
  const q = text.match(/queries:\s+(\d+)\s+\(([\d.]+) per sec\.\)/);
  const avg = text.match(/avg:\s+([\d.]+)/);
  const err = text.match(/ignored errors:\s+(\d+)/);
  if (!q || !avg) throw new SysbenchError(`sysbench report without queries/avg lines: ${text.slice(-400)}`);
  // Histogram lines: "       0.214 |**********    1234" (value in ms, count).
  const buckets: { ms: number; count: number }[] = [];
  for (const m of text.matchAll(/^\s+([\d.]+)\s+\|\**\s+(\d+)\s*$/gm)) buckets.push({ ms: Number(m[1]), count: Number(m[2]) });
  const total = buckets.reduce((s, b) => s + b.count, 0);
  const pct = (p: number): number => {
    if (total === 0) return Number.NaN;
    let seen = 0;
    for (const b of buckets) {
      seen += b.count;
      if (seen >= (p / 100) * total) return b.ms;
    }
    return buckets[buckets.length - 1]!.ms;
  };
  return {
    threads,
    queries: Number(q[1]),
    qps: Number(q[2]),
    avgMs: Number(avg[1]),
    p95Ms: pct(95),
    p99Ms: pct(99),
    errors: err ? Number(err[1]) : 0,
  };
}

async function sysbench(args: string[], timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await execFileP('sysbench', args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new SysbenchError(
      `sysbench ${args.slice(0, 1).join(' ')} ${args.at(-1)}: ${(e.stderr || e.stdout || e.message).toString().slice(-600)}`,
    );
  }
}

/** Creates and fills the sbtest1 table (directly against the database, not through a chain). */
export async function prepareSysbench(t: MySqlTarget, tableSize: number): Promise<void> {
  await sysbench([...commonArgs(t, tableSize), 'cleanup'], 60_000);
  await sysbench([...commonArgs(t, tableSize), 'prepare'], 120_000);
}

export async function runSysbench(t: MySqlTarget, opts: { threads: number; seconds: number; tableSize: number }): Promise<SysbenchResult> {
  const out = await sysbench(
    [
      ...commonArgs(t, opts.tableSize),
      `--threads=${opts.threads}`,
      `--time=${opts.seconds}`,
      '--events=0',
      '--histogram=on',
      '--mysql-ignore-errors=all',
      'run',
    ],
    (opts.seconds + 60) * 1000,
  );
  return parseSysbenchOutput(out, opts.threads);
}
