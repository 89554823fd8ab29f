// `npm run soak -- [--quick] [--only load,faults,tls,xds,config,security] [--connections N] [--fuzz-cases N] [--out FILE]`
import path from 'node:path';
import { repoRoot } from './child.js';

export const PHASES = ['load', 'faults', 'tls', 'xds', 'config', 'security'] as const;
export type Phase = (typeof PHASES)[number];

export interface SoakOptions {
  quick: boolean;
  phases: Phase[];
  /** Long-lived connections held through the four-proxy chain. */
  connections: number;
  /** Property-based config cases (YAML/JSON files and JSON patches each). */
  fuzzCases: number;
  out: string;
}

export class SoakUsageError extends Error {
  readonly code = 'E_SOAK_USAGE';
}

export const USAGE = `usage: npm run soak -- [--quick] [--only ${PHASES.join(',')}] [--connections N] [--fuzz-cases N] [--out FILE]
  --quick          the short version (CI): a few hundred connections, 1,000 fuzz cases, fewer attacks
  --only LIST      run only these phases (default: all)
  --connections N  long-lived connections through the chain (default 5000, quick 300)
  --fuzz-cases N   property-based config cases per generator (default 10000, quick 1000)
  --out FILE       where the JSON goes (default soak/results/latest.json)`;

function positiveInt(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 1) throw new SoakUsageError(`${flag} needs a positive integer, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
  return n;
}

export function parseSoakArgs(argv: readonly string[]): SoakOptions {
  const quick = argv.includes('--quick');
  const o: SoakOptions = {
    quick,
    phases: [...PHASES],
    connections: quick ? 300 : 5000,
    fuzzCases: quick ? 1000 : 10_000,
    out: path.join(repoRoot(), 'soak', 'results', 'latest.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') continue;
    else if (a === '--only') {
      const list = (argv[++i] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const bad = list.filter((p) => !(PHASES as readonly string[]).includes(p));
      if (list.length === 0 || bad.length > 0) throw new SoakUsageError(`--only takes phases from ${PHASES.join(', ')}; got ${JSON.stringify(argv[i] ?? '')}`);
      o.phases = list as Phase[];
    } else if (a === '--connections') o.connections = positiveInt(a, argv[++i]);
    else if (a === '--fuzz-cases') o.fuzzCases = positiveInt(a, argv[++i]);
    else if (a === '--out') {
      const f = argv[++i];
      if (!f) throw new SoakUsageError('--out needs a file name');
      o.out = path.resolve(f);
    } else if (a === '--help' || a === '-h') throw new SoakUsageError(USAGE);
    else throw new SoakUsageError(`unknown argument ${JSON.stringify(a)}\n${USAGE}`);
  }
  return o;
}
