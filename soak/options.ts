// `npm run soak -- [--quick] [--only load,faults,tls,proxy,xds,config,security] [--connections N] [--fuzz-cases N] [--out FILE]`
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { packageRoot } from '../src/shared/package-root.js';

export const PHASES = ['load', 'faults', 'tls', 'proxy', 'xds', 'config', 'security'] as const;
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

export const USAGE = `usage: npm run soak -- [--quick] [--only ${PHASES.join(',')}] [--connections N] [--fuzz-cases N] [--out FILE]`;

function positiveInt(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 1)
    throw new SoakUsageError(`${flag} needs a positive integer, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
  return n;
}

/** `npm run soak -- ...` as a commander program; parse errors become SoakUsageError, `--help` too (with the help). */
export function soakCommand(): Command {
  return new Command('npm run soak --')
    .description('the soak: held load, faults, TLS, proxy, xDS, config and security attacks against the four-proxy chain')
    .option('--quick', 'the short version (CI): a few hundred connections, 1,000 fuzz cases, fewer attacks')
    .option('--only <list>', `run only these phases (default: all): ${PHASES.join(',')}`)
    .option('--connections <n>', 'long-lived connections through the chain (default 5000, quick 300)')
    .option('--fuzz-cases <n>', 'property-based config cases per generator (default 10000, quick 1000)')
    .option('--out <file>', 'where the JSON goes (default soak/results/latest.json)')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
}

/** What `--help` prints: the usage line, then every option with its help. */
export function helpText(): string {
  return soakCommand()
    .usage('[options]')
    .helpInformation()
    .replace(/^Usage: .*\n/, `${USAGE}\n`)
    .trimEnd();
}

export function parseSoakArgs(argv: readonly string[]): SoakOptions {
  const program = soakCommand();
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === 'commander.helpDisplayed') throw new SoakUsageError(helpText());
    throw new SoakUsageError(`${err.message.replace(/^error: /, '')}\n${USAGE}`);
  }
  const flags = program.opts<{ quick?: boolean; only?: string; connections?: string; fuzzCases?: string; out?: string }>();
  const quick = flags.quick === true;
  const o: SoakOptions = {
    quick,
    phases: [...PHASES],
    connections: quick ? 300 : 5000,
    fuzzCases: quick ? 1000 : 10_000,
    out: path.join(packageRoot(), 'soak', 'results', 'latest.json'),
  };
  if (flags.only !== undefined) {
    const list = flags.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = list.filter((p) => !(PHASES as readonly string[]).includes(p));
    if (list.length === 0 || bad.length > 0)
      throw new SoakUsageError(`--only takes phases from ${PHASES.join(', ')}; got ${JSON.stringify(flags.only)}`);
    o.phases = list as Phase[];
  }
  if (flags.connections !== undefined) o.connections = positiveInt('--connections', flags.connections);
  if (flags.fuzzCases !== undefined) o.fuzzCases = positiveInt('--fuzz-cases', flags.fuzzCases);
  if (flags.out !== undefined) {
    if (!flags.out) throw new SoakUsageError('--out needs a file name');
    o.out = path.resolve(flags.out);
  }
  return o;
}
