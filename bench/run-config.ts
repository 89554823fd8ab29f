// What one `npm run bench` measures and how much: the full run, `--quick` (CI: every figure once, small
// sizes, under 3 minutes), and the figure list that follows from it.
import { Command, CommanderError } from 'commander';
import { maxConnectionsPerProxy } from './limits.js';
import type { ChainKind, FigureSpec } from './results.js';
import { RUNTIMES, type Runtime } from '../src/shared/runtime.js';

export type LoadName = 'sysbench' | 'rotation' | 'bulk' | 'churn' | 'idle' | 'controlplane' | 'hop';
export const LOADS: readonly LoadName[] = ['sysbench', 'rotation', 'bulk', 'churn', 'idle', 'controlplane', 'hop'];
/** Loads that need no chain: they start what they measure themselves. */
export const CHAINLESS_LOADS: readonly LoadName[] = ['controlplane', 'hop'];

export interface BenchConfig {
  quick: boolean;
  repeats: number;
  loads: LoadName[];
  chains: ChainKind[];
  /** The runtimes the meshgate chain is run under, one after the other (`--runtimes node,bun`); default node. */
  runtimes: Runtime[];
  sysbench: { seconds: number; warmupSeconds: number; tableSize: number; threads: number[] };
  bulk: { seconds: number };
  churn: { connections: number; concurrency: number; warmup: number };
  idle: { counts: number[]; concurrency: number };
  /** Credentials rotated one after another per repeat; the repeat's figure is their median. */
  rotation: { rotations: number };
  controlPlane: { services: number; clients: number };
  resultsDir: string;
}

export class BenchUsageError extends Error {
  readonly code = 'E_BENCH_USAGE';
}

/** Idle counts: 1,000 and 10,000, the second capped by the file-descriptor hard limit (2 per connection per proxy). */
function idleCounts(quick: boolean): number[] {
  if (quick) return [100, 300];
  const cap = maxConnectionsPerProxy() - 100;
  return [1000, Math.min(10_000, cap)];
}

/** `npm run bench -- ...` as a commander program; parse errors become BenchUsageError, `--help` prints. */
export function benchCommand(): Command {
  return new Command('npm run bench --')
    .description('the four-proxy chain benchmark: meshgate against HAProxy and a direct path (bench/README.md)')
    .option('--quick', 'every figure once with small sizes (CI, under 3 minutes)')
    .option('--repeats <n>', 'runs of each load; the median is reported (1-20, default 3, quick 1)')
    .option('--only <loads>', `only these loads, comma-separated: ${LOADS.join(',')}`)
    .option('--chains <chains>', 'only these chains, comma-separated: meshgate,haproxy,direct')
    .option(
      '--runtimes <runtimes>',
      'run the meshgate chain under each of these runtimes in turn, comma-separated: node,bun (default node)',
    )
    .option('--cp-size <services,clients>', 'control-plane benchmark size (default 1000,2000, quick 50,100)')
    .option('--results-dir <dir>', 'where raw results and latest.json go (default bench/results)')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
}

interface BenchFlags {
  quick?: boolean;
  repeats?: string;
  only?: string;
  chains?: string;
  runtimes?: string;
  cpSize?: string;
  resultsDir?: string;
}

export function parseArgs(argv: string[], defaultResultsDir: string): BenchConfig {
  const program = benchCommand();
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new BenchUsageError(`${err.message.replace(/^error: /, '')}\n${USAGE}`);
    throw err;
  }
  const flags = program.opts<BenchFlags>();
  const quick = flags.quick === true;
  const repeats = Number(flags.repeats ?? (quick ? 1 : 3));
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 20) throw new BenchUsageError('--repeats must be an integer from 1 to 20');
  const only = flags.only?.split(',').map((s) => s.trim()) ?? [...LOADS];
  for (const l of only)
    if (!LOADS.includes(l as LoadName)) throw new BenchUsageError(`--only: unknown load "${l}" (loads: ${LOADS.join(', ')})`);
  const chains = (flags.chains?.split(',').map((s) => s.trim()) ?? ['meshgate', 'haproxy', 'direct']) as ChainKind[];
  for (const c of chains) if (!['meshgate', 'haproxy', 'direct'].includes(c)) throw new BenchUsageError(`--chains: unknown chain "${c}"`);
  const runtimes = [...new Set(flags.runtimes?.split(',').map((s) => s.trim()) ?? ['node'])] as Runtime[];
  for (const r of runtimes)
    if (!RUNTIMES.includes(r)) throw new BenchUsageError(`--runtimes: unknown runtime "${r}" (runtimes: ${RUNTIMES.join(', ')})`);
  let controlPlane = quick ? { services: 50, clients: 100 } : { services: 1000, clients: 2000 };
  if (flags.cpSize !== undefined) {
    const m = flags.cpSize.match(/^(\d+),(\d+)$/);
    if (!m) throw new BenchUsageError('--cp-size must be SERVICES,CLIENTS (e.g. 1000,2000)');
    controlPlane = { services: Number(m[1]), clients: Number(m[2]) };
  }
  return {
    quick,
    repeats,
    loads: only as LoadName[],
    chains,
    runtimes,
    sysbench: quick
      ? { seconds: 3, warmupSeconds: 0, tableSize: 1000, threads: [1, 16] }
      : { seconds: 20, warmupSeconds: 2, tableSize: 10_000, threads: [1, 16] },
    bulk: { seconds: quick ? 2 : 10 },
    churn: quick ? { connections: 200, concurrency: 16, warmup: 16 } : { connections: 3000, concurrency: 16, warmup: 100 },
    idle: { counts: idleCounts(quick), concurrency: 32 },
    rotation: { rotations: quick ? 2 : 5 },
    controlPlane,
    resultsDir: flags.resultsDir ?? defaultResultsDir,
  };
}

export const USAGE = `usage: npm run bench -- [--quick] [--repeats N] [--only ${LOADS.join(',')}] [--chains meshgate,haproxy,direct] [--runtimes node,bun] [--cp-size SERVICES,CLIENTS] [--results-dir DIR]`;

/** What `npm run bench -- --help` prints: the usage line and every option with its help. */
export function helpText(): string {
  return benchCommand()
    .usage('[options]')
    .helpInformation()
    .replace(/^Usage: .*\n/, `${USAGE}\n`);
}

/** The figures a run with this config produces. */
export function figureSpecs(c: BenchConfig): FigureSpec[] {
  const specs: FigureSpec[] = [];
  const has = (l: LoadName): boolean => c.loads.includes(l);
  if (has('sysbench')) {
    for (const t of c.sysbench.threads) {
      specs.push(
        { name: `sysbench_point_select_t${t}_qps`, unit: 'qps', better: 'higher', label: `sysbench point_select t=${t}`, direct: true },
        { name: `sysbench_point_select_t${t}_avg_ms`, unit: 'ms', better: 'lower', label: `  latency avg t=${t}`, direct: true },
        { name: `sysbench_point_select_t${t}_p95_ms`, unit: 'ms', better: 'lower', label: `  latency p95 t=${t}`, direct: true },
        { name: `sysbench_point_select_t${t}_p99_ms`, unit: 'ms', better: 'lower', label: `  latency p99 t=${t}`, direct: true },
      );
    }
  }
  if (has('bulk')) {
    for (const dir of ['upload', 'download'] as const) {
      specs.push(
        { name: `bulk_${dir}_mb_per_s`, unit: 'MB/s', better: 'higher', label: `iperf3 1 stream ${dir}`, direct: true },
        { name: `bulk_${dir}_cpu_s_per_gib`, unit: 'CPU-s/GiB', better: 'lower', label: `  CPU, 4 proxies, ${dir}`, direct: false },
      );
    }
  }
  if (has('churn')) {
    specs.push(
      { name: 'churn_conns_per_s', unit: 'conn/s', better: 'higher', label: 'new connections (16 at a time)', direct: true },
      { name: 'churn_p95_ms', unit: 'ms', better: 'lower', label: '  connect+echo+close p95', direct: true },
      { name: 'churn_cpu_ms_per_conn', unit: 'CPU-ms/conn', better: 'lower', label: '  CPU, 4 proxies, per conn', direct: false },
    );
  }
  if (has('idle')) {
    for (const n of c.idle.counts) {
      specs.push(
        {
          name: `idle_${n}_kb_per_conn_per_proxy`,
          unit: 'kB/conn',
          better: 'lower',
          label: `idle memory/conn/proxy, ${n} conns`,
          direct: false,
        },
        { name: `idle_${n}_rss_mb_max_proxy`, unit: 'MB', better: 'lower', label: `  RSS of the largest proxy, ${n} conns`, direct: false },
      );
    }
  }
  if (has('rotation')) {
    specs.push(
      { name: 'rotation_ms', unit: 'ms', better: 'lower', label: 'gateway credential rotation', direct: false },
      { name: 'rotation_failed_queries', unit: 'queries', better: 'lower', label: '  failed queries during it', direct: false },
    );
  }
  if (has('controlplane') && c.chains.includes('meshgate')) {
    const s = `${c.controlPlane.services} svc, ${c.controlPlane.clients} clients`;
    specs.push(
      {
        name: 'controlplane_first_push_s',
        unit: 's',
        better: 'lower',
        label: `control plane first full push (${s})`,
        direct: false,
        meshgateOnly: true,
      },
      {
        name: 'controlplane_change_s',
        unit: 's',
        better: 'lower',
        label: '  one-object change to all affected',
        direct: false,
        meshgateOnly: true,
      },
      { name: 'controlplane_rss_mb', unit: 'MB', better: 'lower', label: '  control plane RSS', direct: false, meshgateOnly: true },
      {
        name: 'controlplane_cpu_s',
        unit: 'CPU-s',
        better: 'lower',
        label: '  control plane CPU (push + change)',
        direct: false,
        meshgateOnly: true,
      },
    );
  }
  return specs;
}
