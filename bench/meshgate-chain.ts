// The meshgate chain: the real product path. The lab (src/lab/lab.ts) in loopback mode starts one
// control plane per cluster from the example's Istio YAML and four meshgate proxies configured over xDS;
// the benchmark's lab file (bench/lab/lab.yaml) leaves the server pod without a program so that each
// load's backend (MariaDB, iperf3, the echo server) can be bound to the server pod's address in turn.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The part of the lab's programmatic API the benchmark uses (src/lab/lab.ts, `upLab`). */
export interface LabProxy {
  name: string;
  cluster: string;
  role: string;
  adminUrl: string;
  pid: number;
}
export interface LabWorkload {
  name: string;
  cluster: string;
  address: string;
  ports: number[];
  pid?: number;
}
export interface RunningLabLike {
  mode: string;
  stateDir: string;
  proxies: LabProxy[];
  workloads: LabWorkload[];
  clientTarget: { host: string; port: number; netns?: string };
  down(): Promise<void>;
}
interface LabModule {
  upLab(opts: {
    labFile: string;
    mode?: 'netns' | 'loopback';
    stateDir?: string;
    onProgress?: (e: { step: string; status: 'start' | 'ready' | 'fail'; detail?: string }) => void;
  }): Promise<RunningLabLike>;
}

export class MeshgateChainError extends Error {
  readonly code = 'E_BENCH_MESHGATE';
}

export const BENCH_CLIENT_CLUSTER = 'cluster-a';
export const BENCH_SERVER_CLUSTER = 'cluster-b';
export const BENCH_CLIENT_WORKLOAD = 'client';
export const BENCH_SERVER_WORKLOAD = 'mysql';
export const BENCH_SERVER_PORT = 3306;

export interface MeshgateChain {
  clientTarget: { host: string; port: number };
  /** Where the server pod's program listens; the benchmark binds each backend here. */
  backend: { host: string; port: number };
  /** The four proxies on the path, in path order. */
  proxies: { name: string; pid: number }[];
  lab: RunningLabLike;
  /** Rotation of the ingress gateway's R-signed credential, when the lab exposes where it lives. */
  rotation?: { probe: import('./loads/rotation.js').TlsProbe; rotate(): Promise<string> };
  stop(): Promise<void>;
}

/** The folder holding package.json, from bench/ (tsx) or dist/bench/ (compiled). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new MeshgateChainError(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

export function benchLabFile(): string {
  return path.join(repoRoot(), 'bench', 'lab', 'lab.yaml');
}

/** The client sidecar, the egress gateway (client cluster), the ingress gateway (server cluster), the server sidecar. */
export function pathProxies(lab: RunningLabLike): { name: string; pid: number }[] {
  const find = (what: string, pred: (p: LabProxy) => boolean): LabProxy => {
    const p = lab.proxies.find(pred);
    if (!p) throw new MeshgateChainError(`the lab has no ${what} proxy; it has: ${lab.proxies.map((x) => `${x.cluster}/${x.name} (${x.role})`).join(', ')}`);
    return p;
  };
  const sidecarOf = (cluster: string, workload: string) => (p: LabProxy) => p.cluster === cluster && p.role === 'sidecar' && p.name.includes(workload);
  const gateway = (cluster: string, kind: string) => (p: LabProxy) => p.cluster === cluster && p.role === 'router' && p.name.includes(kind);
  return [
    find('client sidecar', sidecarOf(BENCH_CLIENT_CLUSTER, BENCH_CLIENT_WORKLOAD)),
    find('egress gateway', gateway(BENCH_CLIENT_CLUSTER, 'egress')),
    find('ingress gateway', gateway(BENCH_SERVER_CLUSTER, 'ingress')),
    find('server sidecar', sidecarOf(BENCH_SERVER_CLUSTER, BENCH_SERVER_WORKLOAD)),
  ].map((p) => ({ name: `${p.cluster}/${p.name}`, pid: p.pid }));
}

export async function startMeshgateChain(opts: { onProgress?: (line: string) => void } = {}): Promise<MeshgateChain> {
  // Loaded by URL at run time: the lab is another engineer's module and may not be built yet.
  const compiled = fileURLToPath(import.meta.url).endsWith('.js');
  const moduleUrl = new URL(compiled ? '../src/lab/lab.js' : '../src/lab/lab.ts', import.meta.url);
  const modulePath = fileURLToPath(moduleUrl);
  let mod: LabModule;
  try {
    mod = (await import(moduleUrl.href)) as LabModule;
  } catch (err) {
    throw new MeshgateChainError(`the lab module (${modulePath}) is not available: ${(err as Error).message}`);
  }
  if (typeof mod.upLab !== 'function') throw new MeshgateChainError(`${modulePath} exports no upLab()`);
  const lab = await mod.upLab({
    labFile: benchLabFile(),
    mode: 'loopback',
    onProgress: (e) => opts.onProgress?.(`lab ${e.step}: ${e.status}${e.detail ? ` (${e.detail})` : ''}`),
  });
  try {
    const server = lab.workloads.find((w) => w.cluster === BENCH_SERVER_CLUSTER && w.name === BENCH_SERVER_WORKLOAD);
    if (!server) throw new MeshgateChainError(`the lab has no workload ${BENCH_SERVER_CLUSTER}/${BENCH_SERVER_WORKLOAD}`);
    if (lab.clientTarget.netns) throw new MeshgateChainError('the lab came up in netns mode; the benchmark needs loopback mode');
    return {
      clientTarget: { host: lab.clientTarget.host, port: lab.clientTarget.port },
      backend: { host: server.address, port: BENCH_SERVER_PORT },
      proxies: pathProxies(lab),
      lab,
      stop: () => lab.down(),
    };
  } catch (err) {
    await lab.down();
    throw err;
  }
}
