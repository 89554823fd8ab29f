// The single-hop load (`npm run bench -- --only hop`): the egress gateway's hop, mTLS in → mTLS out, with
// three relays side by side in one run — the bare Node relay (the reference), meshgate's proxy and one
// HAProxy process — interleaved and repeated. Per relay: CPU-s per GiB moved each way, CPU-ms per new
// connection (connect, 16-byte echo, close), kB of RSS per idle connection; medians over repeats with
// the ratios meshgate / bare and meshgate / HAProxy.
import type { BenchCertificates } from '../certs.js';
import { measureCpu, rssKb } from '../procstat.js';
import { median, spread } from '../stats.js';
import { bulkDownload, bulkUpload, hopChurn, hopIdle } from './loads.js';
import { RELAYS, startHopRig, type RelayKind, type RunningRelay } from './relays.js';

export interface HopConfig {
  repeats: number;
  bulkSeconds: number;
  churn: { connections: number; concurrency: number; warmup: number };
  idle: { count: number; concurrency: number };
}

export function hopConfig(quick: boolean, repeats: number): HopConfig {
  return quick
    ? { repeats, bulkSeconds: 1, churn: { connections: 100, concurrency: 16, warmup: 16 }, idle: { count: 100, concurrency: 16 } }
    : { repeats, bulkSeconds: 5, churn: { connections: 2000, concurrency: 16, warmup: 200 }, idle: { count: 1000, concurrency: 32 } };
}

export interface HopFigureSpec {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  label: string;
}

export const HOP_FIGURES: readonly HopFigureSpec[] = [
  { name: 'hop_bulk_upload_cpu_s_per_gib', unit: 'CPU-s/GiB', better: 'lower', label: 'hop bulk upload, relay CPU' },
  { name: 'hop_bulk_download_cpu_s_per_gib', unit: 'CPU-s/GiB', better: 'lower', label: 'hop bulk download, relay CPU' },
  { name: 'hop_bulk_upload_mb_per_s', unit: 'MB/s', better: 'higher', label: '  upload throughput' },
  { name: 'hop_bulk_download_mb_per_s', unit: 'MB/s', better: 'higher', label: '  download throughput' },
  { name: 'hop_churn_cpu_ms_per_conn', unit: 'CPU-ms/conn', better: 'lower', label: 'hop new connection, relay CPU' },
  { name: 'hop_churn_conns_per_s', unit: 'conn/s', better: 'higher', label: '  new connections (16 at a time)' },
  { name: 'hop_idle_kb_per_conn', unit: 'kB/conn', better: 'lower', label: 'hop idle mTLS connection, relay RSS' },
];

export interface HopSample {
  figure: string;
  relay: RelayKind;
  repeat: number;
  value: number;
}

export interface HopFigure {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  bare: number | null;
  meshgate: number | null;
  haproxy: number | null;
  /** meshgate / bare relay. */
  ratio_bare: number | null;
  /** meshgate / HAProxy. */
  ratio_haproxy: number | null;
}

const round = (x: number): number => (Math.abs(x) >= 100 ? Math.round(x * 10) / 10 : Math.round(x * 1000) / 1000);
const ratio = (a: number | null, b: number | null): number | null =>
  a !== null && b !== null && b !== 0 ? Math.round((a / b) * 1000) / 1000 : null;

export function summarizeHop(samples: readonly HopSample[]): HopFigure[] {
  const value = (figure: string, relay: RelayKind): number | null => {
    const m = median(samples.filter((s) => s.figure === figure && s.relay === relay).map((s) => s.value));
    return Number.isFinite(m) ? round(m) : null;
  };
  return HOP_FIGURES.map((f) => {
    const bare = value(f.name, 'bare');
    const meshgate = value(f.name, 'meshgate');
    const haproxy = value(f.name, 'haproxy');
    return {
      name: f.name,
      unit: f.unit,
      better: f.better,
      bare,
      meshgate,
      haproxy,
      ratio_bare: ratio(meshgate, bare),
      ratio_haproxy: ratio(meshgate, haproxy),
    };
  });
}

/** Figures with no value for a relay that ran (the quick check). */
export function missingHopFigures(figures: readonly HopFigure[], relays: readonly RelayKind[] = RELAYS): string[] {
  const missing: string[] = [];
  for (const spec of HOP_FIGURES) {
    const f = figures.find((x) => x.name === spec.name);
    for (const r of relays) if (!f || f[r] === null) missing.push(`${spec.name} (${r})`);
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

export function renderHopTable(figures: readonly HopFigure[], samples: readonly HopSample[]): string {
  const header = ['single hop (mTLS in → mTLS out)', 'unit', 'bare', 'meshgate', 'HAProxy', 'm/bare', 'm/H', 'spread b / m / H'];
  const pct = (figure: string, relay: RelayKind): string => {
    const v = samples.filter((s) => s.figure === figure && s.relay === relay).map((s) => s.value);
    return v.length === 0 ? '-' : `${Math.round(spread(v) * 100)}%`;
  };
  const rows = figures.map((f) => [
    HOP_FIGURES.find((s) => s.name === f.name)?.label ?? f.name,
    f.unit,
    fmt(f.bare),
    fmt(f.meshgate),
    fmt(f.haproxy),
    f.ratio_bare === null ? '-' : `${f.ratio_bare.toFixed(2)}×`,
    f.ratio_haproxy === null ? '-' : `${f.ratio_haproxy.toFixed(2)}×`,
    `${pct(f.name, 'bare')} / ${pct(f.name, 'meshgate')} / ${pct(f.name, 'haproxy')}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i <= 1 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Relay order for a repeat: rotated by one each time, so each relay runs first, second and last in turn. */
function order(relays: readonly RunningRelay[], repeat: number): RunningRelay[] {
  const k = repeat % relays.length;
  return [...relays.slice(k), ...relays.slice(0, k)];
}

export interface HopPhaseHooks {
  log(line: string): void;
  /** Records one sample's raw numbers (the run's JSON lines). */
  record(relay: RelayKind, repeat: number, values: Record<string, number>, raw: object): Promise<void>;
  /** Runs one measurement, recording a failure instead of throwing. */
  attempt(what: string, fn: () => Promise<void>): Promise<void>;
}

export async function runHopPhase(certs: BenchCertificates, c: HopConfig, hooks: HopPhaseHooks): Promise<HopSample[]> {
  const samples: HopSample[] = [];
  const add = async (relay: RelayKind, repeat: number, values: Record<string, number>, raw: object): Promise<void> => {
    for (const [figure, value] of Object.entries(values)) samples.push({ figure, relay, repeat, value });
    await hooks.record(relay, repeat, values, raw);
  };
  const rig = await startHopRig(certs);
  try {
    hooks.log(
      `hop relays ready: ${rig.relays.map((r) => `${r.kind} :${r.client.port} (pid ${r.pid})`).join(', ')}; sink pid ${rig.sinkPid}`,
    );
    for (const r of rig.relays) {
      await hooks.attempt(`hop warm-up ${r.kind}`, async () => {
        const w = await hopChurn(r.client, c.churn.warmup, c.churn.concurrency);
        if (w.failures > 0) throw new Error(`${w.failures} of ${c.churn.warmup} warm-up connections failed`);
      });
    }
    // Idle first, before bulk grows any heap: an allocator keeps what a load made it take, and a later
    // (RSS after − RSS before) would read near zero. First repeat only, for the same reason.
    for (const r of rig.relays) {
      await hooks.attempt(`hop idle ${r.kind}`, async () => {
        const before = rssKb(r.pid);
        const idle = await hopIdle(r.client, c.idle.count, c.idle.concurrency);
        try {
          if (idle.held < c.idle.count)
            throw new Error(`only ${idle.held} of ${c.idle.count} idle connections opened (${idle.failures} failed)`);
          await sleep(2000);
          const after = rssKb(r.pid);
          const kb = (after - before) / c.idle.count;
          hooks.log(`hop idle ${r.kind}: ${kb.toFixed(1)} kB/conn (${c.idle.count} connections)`);
          await add(r.kind, 0, { hop_idle_kb_per_conn: kb }, { count: c.idle.count, rssBeforeKb: before, rssAfterKb: after });
        } finally {
          await idle.release();
          await sleep(500);
        }
      });
    }
    for (let rep = 0; rep < c.repeats; rep++) {
      for (const r of order(rig.relays, rep)) {
        for (const direction of ['upload', 'download'] as const) {
          await hooks.attempt(`hop bulk ${direction} ${r.kind}`, async () => {
            const run = direction === 'upload' ? bulkUpload : bulkDownload;
            const t0 = performance.now();
            const { result: bytes, cpuSeconds } = await measureCpu([r.pid], () => run(r.client, c.bulkSeconds));
            const seconds = (performance.now() - t0) / 1000;
            const gib = bytes / 2 ** 30;
            if (bytes <= 0) throw new Error('no bytes moved');
            const values = {
              [`hop_bulk_${direction}_cpu_s_per_gib`]: cpuSeconds / gib,
              [`hop_bulk_${direction}_mb_per_s`]: bytes / 1e6 / seconds,
            };
            hooks.log(
              `hop bulk ${direction} ${r.kind}: ${(bytes / 1e6 / seconds).toFixed(0)} MB/s, ${(cpuSeconds / gib).toFixed(2)} CPU-s/GiB`,
            );
            await add(r.kind, rep, values, { direction, bytes, seconds, relayCpuSeconds: cpuSeconds });
          });
        }
        await hooks.attempt(`hop churn ${r.kind}`, async () => {
          const t0 = performance.now();
          const { result, cpuSeconds } = await measureCpu([r.pid], () => hopChurn(r.client, c.churn.connections, c.churn.concurrency));
          const seconds = (performance.now() - t0) / 1000;
          if (result.failures > 0) throw new Error(`${result.failures} of ${c.churn.connections} connections failed`);
          const values = { hop_churn_cpu_ms_per_conn: (cpuSeconds * 1000) / result.ok, hop_churn_conns_per_s: result.ok / seconds };
          hooks.log(
            `hop churn ${r.kind}: ${(result.ok / seconds).toFixed(0)} conn/s, ${((cpuSeconds * 1000) / result.ok).toFixed(2)} CPU-ms/conn`,
          );
          await add(r.kind, rep, values, { connections: result.ok, seconds, relayCpuSeconds: cpuSeconds });
        });
      }
    }
  } finally {
    await rig.stop();
  }
  return samples;
}
