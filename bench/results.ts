// Results: raw samples (one JSON line per measurement) → figures (median per chain over repeats) →
// `bench/results/latest.json` in the issue's shape, a JSON-lines file per run, and the table people read.
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { median, spread } from './stats.js';
import type { HopFigure } from './hop/phase.js';

export type ChainKind = 'meshgate' | 'haproxy' | 'direct';
export const CHAINS: readonly ChainKind[] = ['meshgate', 'haproxy', 'direct'];

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
  chain: ChainKind;
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

function valueOf(samples: readonly Sample[], figure: string, chain: ChainKind): number | null {
  const m = median(samples.filter((s) => s.figure === figure && s.chain === chain).map((s) => s.value));
  return Number.isFinite(m) ? round(m) : null;
}

/** One figure per spec, median over repeats; `ratio` = meshgate / HAProxy when both exist. */
export function summarize(specs: readonly FigureSpec[], samples: readonly Sample[]): Figure[] {
  return specs.map((spec) => {
    const meshgate = valueOf(samples, spec.name, 'meshgate');
    const haproxy = spec.meshgateOnly ? null : valueOf(samples, spec.name, 'haproxy');
    const direct = spec.direct ? valueOf(samples, spec.name, 'direct') : null;
    const ratio = meshgate !== null && haproxy !== null && haproxy !== 0 ? Math.round((meshgate / haproxy) * 1000) / 1000 : null;
    return { name: spec.name, unit: spec.unit, better: spec.better, meshgate, haproxy, direct, ratio };
  });
}

/** Spread ((max − min) / median) per chain for one figure, for the table. */
export function spreadOf(samples: readonly Sample[], figure: string, chain: ChainKind): number | null {
  const v = samples.filter((s) => s.figure === figure && s.chain === chain).map((s) => s.value);
  return v.length === 0 ? null : spread(v);
}

/** Names of figures with no value where the spec says one is due (the quick check), for the chains run. */
export function missingFigures(specs: readonly FigureSpec[], figures: readonly Figure[], chains: readonly ChainKind[] = CHAINS): string[] {
  const missing: string[] = [];
  for (const spec of specs) {
    const f = figures.find((x) => x.name === spec.name);
    if (!f) {
      missing.push(`${spec.name} (all)`);
      continue;
    }
    if (chains.includes('meshgate') && f.meshgate === null) missing.push(`${spec.name} (meshgate)`);
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

/** The table people read: one row per figure, meshgate / HAProxy / direct side by side, ratio and spreads. */
export function renderTable(specs: readonly FigureSpec[], figures: readonly Figure[], samples: readonly Sample[]): string {
  const header = ['figure', 'unit', 'meshgate', 'HAProxy', 'direct', 'ratio m/H', 'spread m / H'];
  const rows = figures.map((f) => {
    const spec = specs.find((s) => s.name === f.name);
    const sm = spreadOf(samples, f.name, 'meshgate');
    const sh = spreadOf(samples, f.name, 'haproxy');
    const pct = (x: number | null): string => (x === null ? '-' : `${Math.round(x * 100)}%`);
    return [
      spec?.label ?? f.name,
      f.unit,
      fmt(f.meshgate),
      fmt(f.haproxy),
      fmt(f.direct),
      f.ratio === null ? '-' : `${f.ratio.toFixed(2)}×`,
      `${pct(sm)} / ${pct(sh)}`,
    ];
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
