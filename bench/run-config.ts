// What one `npm run bench` measures and how much: the full run, `--quick` (CI: every figure once, small
// sizes, under 3 minutes), and the figure list that follows from it.
import { maxConnectionsPerProxy } from './limits.js';
import type { ChainKind, FigureSpec } from './results.js';

export type LoadName = 'sysbench' | 'rotation' | 'bulk' | 'churn' | 'idle' | 'controlplane';
export const LOADS: readonly LoadName[] = ['sysbench', 'rotation', 'bulk', 'churn', 'idle', 'controlplane'];

export interface BenchConfig {
  quick: boolean;
  repeats: number;
  loads: LoadName[];
  chains: ChainKind[];
  sysbench: { seconds: number; warmupSeconds: number; tableSize: number; threads: number[] };
  bulk: { seconds: number };
  churn: { connections: number; concurrency: number; warmup: number };
  idle: { counts: number[]; concurrency: number };
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

export function parseArgs(argv: string[], defaultResultsDir: string): BenchConfig {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new BenchUsageError(`${flag} needs a value`);
    return v;
  };
  const known = new Set(['--quick', '--repeats', '--only', '--chains', '--results-dir', '--cp-size', '--help']);
  for (const a of argv) if (a.startsWith('--') && !known.has(a)) throw new BenchUsageError(`unknown option ${a} (known: ${[...known].join(', ')})`);
  const repeats = Number(value('--repeats') ?? (quick ? 1 : 3));
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 20) throw new BenchUsageError('--repeats must be an integer from 1 to 20');
  const only = value('--only')?.split(',').map((s) => s.trim()) ?? [...LOADS];
  for (const l of only) if (!LOADS.includes(l as LoadName)) throw new BenchUsageError(`--only: unknown load "${l}" (loads: ${LOADS.join(', ')})`);
  const chains = (value('--chains')?.split(',').map((s) => s.trim()) ?? ['meshgate', 'haproxy', 'direct']) as ChainKind[];
  for (const c of chains) if (!['meshgate', 'haproxy', 'direct'].includes(c)) throw new BenchUsageError(`--chains: unknown chain "${c}"`);
  let controlPlane = quick ? { services: 50, clients: 100 } : { services: 1000, clients: 2000 };
  const cpSize = value('--cp-size');
  if (cpSize !== undefined) {
    const m = cpSize.match(/^(\d+),(\d+)$/);
    if (!m) throw new BenchUsageError('--cp-size must be SERVICES,CLIENTS (e.g. 1000,2000)');
    controlPlane = { services: Number(m[1]), clients: Number(m[2]) };
  }
  return {
    quick,
    repeats,
    loads: only as LoadName[],
    chains,
    sysbench: quick ? { seconds: 3, warmupSeconds: 0, tableSize: 1000, threads: [1, 16] } : { seconds: 20, warmupSeconds: 2, tableSize: 10_000, threads: [1, 16] },
    bulk: { seconds: quick ? 2 : 10 },
    churn: quick ? { connections: 200, concurrency: 16, warmup: 16 } : { connections: 3000, concurrency: 16, warmup: 100 },
    idle: { counts: idleCounts(quick), concurrency: 32 },
    controlPlane,
    resultsDir: value('--results-dir') ?? defaultResultsDir,
  };
}

export const USAGE = `usage: npm run bench -- [--quick] [--repeats N] [--only ${LOADS.join(',')}] [--chains meshgate,haproxy,direct] [--cp-size SERVICES,CLIENTS] [--results-dir DIR]`;

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
        { name: `idle_${n}_kb_per_conn_per_proxy`, unit: 'kB/conn', better: 'lower', label: `idle memory/conn/proxy, ${n} conns`, direct: false },
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
      { name: 'controlplane_first_push_s', unit: 's', better: 'lower', label: `control plane first full push (${s})`, direct: false, meshgateOnly: true },
      { name: 'controlplane_change_s', unit: 's', better: 'lower', label: '  one-object change to all affected', direct: false, meshgateOnly: true },
      { name: 'controlplane_rss_mb', unit: 'MB', better: 'lower', label: '  control plane RSS', direct: false, meshgateOnly: true },
      { name: 'controlplane_cpu_s', unit: 'CPU-s', better: 'lower', label: '  control plane CPU (push + change)', direct: false, meshgateOnly: true },
    );
  }
  return specs;
}
