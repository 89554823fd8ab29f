// Results: raw samples (one JSON line per measurement) → figures (median per chain over repeats) →
// `bench/results/latest.json` in the issue's shape, a JSON-lines file per run, and the table people read.
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { median, spread } from './stats.js';
import type { HopFigure } from './hop/phase.js';
import type { Runtime } from '../src/shared/runtime.js';

export type ChainKind = 'meshgate' | 'haproxy' | 'direct';
export const CHAINS: readonly ChainKind[] = ['meshgate', 'haproxy', 'direct'];
/** What a sample was measured on: a chain, with the meshgate chain under Bun (`--runtimes bun`) apart. */
export type SampleChain = ChainKind | 'meshgate-bun';
/** The meshgate chain's sample kind under each runtime. */
export const MESHGATE_UNDER: Readonly<Record<Runtime, SampleChain>> = { node: 'meshgate', bun: 'meshgate-bun' };

export interface FigureSpec {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  /** What the figure means, for the table and the README. */
  label: string;
  /** Figures only defined for proxies (CPU, memory per proxy) have no direct value. */
  direct: boolean;
  /** Figures only the meshgate side has (the control plane). */
  meshgateOnly?: boolean;
}

export interface Sample {
  figure: string;
  chain: SampleChain;
  repeat: number;
  value: number;
}

export interface Figure {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  meshgate: number | null;
  haproxy: number | null;
  direct: number | null;
  ratio: number | null;
  /** Runs with Bun (`--runtimes ...bun`): the meshgate chain under Bun, and its ratio to HAProxy. */
  meshgateBun?: number | null;
  ratioBun?: number | null;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryMb: number;
  kernel: string;
  platform: string;
  nofileLimit: number;
  versions: Record<string, string>;
}

export interface LatestResult {
  date: string;
  machine: MachineInfo;
  quick: boolean;
  figures: Figure[];
  /** The single-hop load's figures (bench/hop/phase.ts), when it ran. */
  hop?: HopFigure[];
}

const round = (x: number): number => (Math.abs(x) >= 100 ? Math.round(x * 10) / 10 : Math.round(x * 1000) / 1000);

function valueOf(samples: readonly Sample[], figure: string, chain: SampleChain): number | null {
  const m = median(samples.filter((s) => s.figure === figure && s.chain === chain).map((s) => s.value));
  return Number.isFinite(m) ? round(m) : null;
}

const ratioOf = (a: number | null, b: number | null): number | null =>
  a !== null && b !== null && b !== 0 ? Math.round((a / b) * 1000) / 1000 : null;

/**
 * One figure per spec, median over repeats; `ratio` = meshgate / HAProxy when both exist. When any sample
 * is of the meshgate chain under Bun, every figure also has `meshgateBun` and `ratioBun` (Bun / HAProxy).
 */
export function summarize(specs: readonly FigureSpec[], samples: readonly Sample[]): Figure[] {
  const withBun = samples.some((s) => s.chain === 'meshgate-bun');
  return specs.map((spec) => {
    const meshgate = valueOf(samples, spec.name, 'meshgate');
    const haproxy = spec.meshgateOnly ? null : valueOf(samples, spec.name, 'haproxy');
    const direct = spec.direct ? valueOf(samples, spec.name, 'direct') : null;
    const f: Figure = {
      name: spec.name,
      unit: spec.unit,
      better: spec.better,
      meshgate,
      haproxy,
      direct,
      ratio: ratioOf(meshgate, haproxy),
    };
    if (withBun) {
      f.meshgateBun = valueOf(samples, spec.name, 'meshgate-bun');
      f.ratioBun = ratioOf(f.meshgateBun, haproxy);
    }
    return f;
  });
}

/** Spread ((max − min) / median) per chain for one figure, for the table. */
export function spreadOf(samples: readonly Sample[], figure: string, chain: SampleChain): number | null {
  const v = samples.filter((s) => s.figure === figure && s.chain === chain).map((s) => s.value);
  return v.length === 0 ? null : spread(v);
}

/** Names of figures with no value where the spec says one is due (the quick check), for the chains run. */
export function missingFigures(
  specs: readonly FigureSpec[],
  figures: readonly Figure[],
  chains: readonly ChainKind[] = CHAINS,
  runtimes: readonly Runtime[] = ['node'],
): string[] {
  const missing: string[] = [];
  for (const spec of specs) {
    const f = figures.find((x) => x.name === spec.name);
    if (!f) {
      missing.push(`${spec.name} (all)`);
      continue;
    }
    if (chains.includes('meshgate') && runtimes.includes('node') && f.meshgate === null) missing.push(`${spec.name} (meshgate)`);
    // The control plane runs in the benchmark's own process, once: it has no Bun column.
    if (chains.includes('meshgate') && runtimes.includes('bun') && !spec.meshgateOnly && (f.meshgateBun ?? null) === null)
      missing.push(`${spec.name} (meshgate under bun)`);
    if (chains.includes('haproxy') && !spec.meshgateOnly && f.haproxy === null) missing.push(`${spec.name} (haproxy)`);
    if (chains.includes('direct') && spec.direct && f.direct === null) missing.push(`${spec.name} (direct)`);
  }
  return missing;
}

function fmt(x: number | null): string {
  if (x === null) return '-';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/**
 * The table people read: one row per figure, meshgate / HAProxy / direct side by side, ratio and spreads;
 * with Bun in the run, the meshgate chain under Bun and its ratio to HAProxy follow meshgate's own.
 */
export function renderTable(specs: readonly FigureSpec[], figures: readonly Figure[], samples: readonly Sample[]): string {
  const withBun = figures.some((f) => f.meshgateBun !== undefined);
  const header = withBun
    ? ['figure', 'unit', 'meshgate node', 'meshgate bun', 'HAProxy', 'direct', 'ratio n/H', 'ratio b/H', 'spread n / b / H']
    : ['figure', 'unit', 'meshgate', 'HAProxy', 'direct', 'ratio m/H', 'spread m / H'];
  const pct = (x: number | null): string => (x === null ? '-' : `${Math.round(x * 100)}%`);
  const ratio = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${x.toFixed(2)}×`);
  const rows = figures.map((f) => {
    const spec = specs.find((s) => s.name === f.name);
    const sm = pct(spreadOf(samples, f.name, 'meshgate'));
    const sh = pct(spreadOf(samples, f.name, 'haproxy'));
    if (withBun) {
      const sb = pct(spreadOf(samples, f.name, 'meshgate-bun'));
      return [
        spec?.label ?? f.name,
        f.unit,
        fmt(f.meshgate),
        fmt(f.meshgateBun ?? null),
        fmt(f.haproxy),
        fmt(f.direct),
        ratio(f.ratio),
        ratio(f.ratioBun),
        `${sm} / ${sb} / ${sh}`,
      ];
    }
    return [spec?.label ?? f.name, f.unit, fmt(f.meshgate), fmt(f.haproxy), fmt(f.direct), ratio(f.ratio), `${sm} / ${sh}`];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i <= 1 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

export interface ResultWriter {
  runId: string;
  rawFile: string;
  /** Appends one raw record (a measurement with its context) as a JSON line. */
  record(entry: Record<string, unknown>): Promise<void>;
  writeLatest(result: LatestResult): Promise<string>;
}

export async function createResultWriter(dir: string, now = new Date()): Promise<ResultWriter> {
  await mkdir(dir, { recursive: true });
  const runId = now.toISOString().replace(/[:.]/g, '-');
  const rawFile = path.join(dir, `${runId}.jsonl`);
  return {
    runId,
    rawFile,
    async record(entry: Record<string, unknown>): Promise<void> {
      await appendFile(rawFile, `${JSON.stringify({ run: runId, time: new Date().toISOString(), ...entry })}\n`);
    },
    async writeLatest(result: LatestResult): Promise<string> {
      const file = path.join(dir, 'latest.json');
      await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
      await appendFile(rawFile, `${JSON.stringify({ run: runId, kind: 'summary', ...result })}\n`);
      return file;
    },
  };
}
