// The soak's chain is the benchmark's: the lab in loopback mode (two control planes, the seed's four
// proxies configured over xDS from the example's Istio YAML, R-signed gateway credentials written as
// Secrets) with an echo server bound to the server pod's address (bench/meshgate-chain.ts,
// bench/backends.ts). On top of it, what faults need: kill a proxy or a control plane by its recorded
// pid, and start it again with the same bootstrap or flags (optionally a changed bootstrap), logging to
// the lab's own log file. Processes started here are recorded in a ProcessGroup and stopped by pid.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEchoServer, type RunningBackend } from '../bench/backends.js';
import { generateBenchCertificates, issueIngressServerCredential, MYSQL_SNI, type BenchCertificates } from '../bench/certs.js';
import {
  benchLabFile,
  BENCH_CLIENT_CLUSTER,
  BENCH_SERVER_CLUSTER,
  BENCH_SERVER_PORT,
  BENCH_SERVER_WORKLOAD,
  EGRESS_SECRET,
  INGRESS_PORT,
  INGRESS_SECRET,
  pathProxies,
  serverBackendAddress,
  writeCredentialSecret,
  type MeshgateChain,
} from '../bench/meshgate-chain.js';
import { presentedSerial, type TlsProbe } from '../bench/loads/rotation.js';
import { upLab } from '../src/lab/lab.js';
import { ProcessGroup } from '../bench/processes.js';
import { clusterPaths, podPaths } from '../src/lab/cluster-runtime.js';
import { meshgateCommand, type LabClusterInfo, type LabProxyInfo } from '../src/lab/lab.js';
import { wrapArgv } from '../src/lab/lab-process.js';
import type { ProxyBootstrap } from '../src/proxy/bootstrap-types.js';

export class SoakChainError extends Error {
  readonly code = 'E_SOAK_CHAIN';
}

export const PATH_NAMES = ['client sidecar', 'egress gateway', 'ingress gateway', 'server sidecar'] as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function httpOk(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false; // not up (yet): callers poll until their deadline
  }
}

export async function getText(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const t = await r.text();
  if (!r.ok) throw new SoakChainError(`${url}: HTTP ${r.status}: ${t.slice(0, 200)}`);
  return t;
}

export interface ProxySync {
  proxy: string;
  types: Record<string, { state: string; error?: string; lastError?: string }>;
}

/**
 * bench/meshgate-chain.ts's startMeshgateChain, with a state folder of the soak's own, so a soak and a
 * benchmark (whose lab keeps the default folder) can run side by side.
 */
async function startChain(certs: BenchCertificates, log: (line: string) => void): Promise<MeshgateChain> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'meshgate-soak-lab-'));
  let lab: Awaited<ReturnType<typeof upLab>>;
  try {
    lab = await upLab({
      labFile: benchLabFile(),
      mode: 'loopback',
      stateDir,
      onProgress: (e) => log(`lab ${e.step}: ${e.status}${e.detail ? ` (${e.detail})` : ''}`),
    });
  } catch (err) {
    // upLab removed everything it made; the folder is ours.
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
  const stop = async (): Promise<void> => {
    await lab.down();
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const server = lab.workloads.find((w) => w.cluster === BENCH_SERVER_CLUSTER && w.name === BENCH_SERVER_WORKLOAD);
    if (!server || !lab.clientTarget) throw new SoakChainError('the bench lab file has no server workload or no client');
    const ingress = pathProxies(lab.proxies)[2]!;
    const dir = (name: string): string => lab.clusters.find((c) => c.name === name)!.configDir;
    const probe: TlsProbe = {
      host: ingress.address,
      port: INGRESS_PORT,
      servername: MYSQL_SNI,
      caPem: certs.root.certPem,
      certPem: certs.egressClient.certPem,
      keyPem: certs.egressClient.keyPem,
    };
    await writeCredentialSecret(dir(BENCH_CLIENT_CLUSTER), EGRESS_SECRET, certs.egressClient, certs.root.certPem);
    await writeCredentialSecret(dir(BENCH_SERVER_CLUSTER), INGRESS_SECRET, certs.ingressServer, certs.root.certPem);
    const deadline = Date.now() + 30_000;
    let last = '';
    while (last !== certs.ingressServer.serialHex) {
      if (Date.now() > deadline)
        throw new SoakChainError(`the ingress gateway did not present the R-signed credential within 30 s (last: ${last})`);
      last = await presentedSerial(probe).catch((err: Error) => err.message);
      if (last !== certs.ingressServer.serialHex) await sleep(100);
    }
    return {
      clientTarget: { host: lab.clientTarget.host, port: lab.clientTarget.port },
      backend: await serverBackendAddress(dir(BENCH_SERVER_CLUSTER), server, BENCH_SERVER_PORT),
      proxies: pathProxies(lab.proxies).map((p) => ({ name: `${p.cluster}/${p.namespace}/${p.name}`, pid: p.pid })),
      lab,
      rotation: {
        probe,
        async prepare() {
          const leaf = await issueIngressServerCredential(certs.root);
          return {
            serial: leaf.serialHex,
            replace: () => writeCredentialSecret(dir(BENCH_SERVER_CLUSTER), INGRESS_SECRET, leaf, certs.root.certPem),
          };
        },
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export class SoakChain {
  private readonly group = new ProcessGroup();
  /** The four proxies on the path, in path order; pids are updated when one is restarted. */
  readonly proxies: LabProxyInfo[];

  private constructor(
    readonly chain: MeshgateChain,
    public echo: RunningBackend,
    readonly certs: BenchCertificates,
  ) {
    this.proxies = pathProxies(chain.lab.proxies).map((p) => ({ ...p }));
  }

  static async start(log: (line: string) => void): Promise<SoakChain> {
    const certs = await generateBenchCertificates();
    const chain = await startChain(certs, log);
    try {
      const echo = await startEchoServer(chain.backend.host, chain.backend.port);
      return new SoakChain(chain, echo, certs);
    } catch (err) {
      await chain.stop();
      throw err;
    }
  }

  get target(): { host: string; port: number } {
    return this.chain.clientTarget;
  }

  get stateDir(): string {
    return this.chain.lab.stateDir;
  }

  get clusters(): LabClusterInfo[] {
    return this.chain.lab.clusters;
  }

  /** Puts a fresh echo server behind the chain (after a fault used the backend address for MariaDB). */
  async restartEcho(): Promise<void> {
    await this.echo.stop();
    this.echo = await startEchoServer(this.chain.backend.host, this.chain.backend.port);
  }

  configDir(cluster: string): string {
    const c = this.clusters.find((x) => x.name === cluster);
    if (!c) throw new SoakChainError(`the lab has no cluster ${cluster}`);
    return c.configDir;
  }

  pids(): number[] {
    return this.proxies.map((p) => p.pid);
  }

  logFileOf(name: string): string {
    return path.join(this.stateDir, 'logs', `${name.replace(/[^A-Za-z0-9_.-]+/g, '_')}.log`);
  }

  proxyLogFile(i: number): string {
    const p = this.proxies[i]!;
    return this.logFileOf(`${p.cluster}/${p.namespace}/${p.name}/proxy`);
  }

  /** SIGKILL: the crash case, no drain. */
  killProxy(i: number): void {
    process.kill(this.proxies[i]!.pid, 'SIGKILL');
  }

  /** Starts proxy `i` again from its bootstrap (changed by `edit` if given) and waits for its /ready. */
  async restartProxy(i: number, edit?: (b: ProxyBootstrap) => ProxyBootstrap, timeoutMs = 60_000): Promise<void> {
    const p = this.proxies[i]!;
    const paths = podPaths(this.stateDir, p);
    let bootstrapFile = paths.bootstrapFile;
    if (edit) {
      const b = JSON.parse(readFileSync(paths.bootstrapFile, 'utf8')) as ProxyBootstrap;
      bootstrapFile = path.join(paths.dir, 'bootstrap.soak.json');
      writeFileSync(bootstrapFile, `${JSON.stringify(edit(b), null, 2)}\n`, { mode: 0o644 });
    }
    const argv = wrapArgv({ argv: [...meshgateCommand(), 'proxy', '--bootstrap', bootstrapFile], hostsFile: paths.hostsFile });
    const fd = openSync(this.proxyLogFile(i), 'a', 0o644);
    try {
      const proc = this.group.start(`${p.cluster}/${p.namespace}/${p.name}/proxy`, argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd] });
      p.pid = proc.pid;
    } finally {
      closeSync(fd);
    }
    const deadline = Date.now() + timeoutMs;
    while (!(await httpOk(`${p.adminUrl}/ready`))) {
      if (Date.now() > deadline)
        throw new SoakChainError(`${PATH_NAMES[i]} not ready ${timeoutMs} ms after its restart; see ${this.proxyLogFile(i)}`);
      await sleep(200);
    }
  }

  killControlPlanes(): void {
    for (const c of this.clusters) {
      if (c.controlPlanePid === undefined) throw new SoakChainError(`the lab recorded no control-plane pid for ${c.name}`);
      process.kill(c.controlPlanePid, 'SIGKILL');
    }
  }

  /** Starts each cluster's control plane again with the lab's flags and the same state (mesh CA, config). */
  async restartControlPlanes(timeoutMs = 60_000): Promise<void> {
    for (const c of this.clusters) {
      const cp = clusterPaths(this.stateDir, c);
      const host = new URL(c.controlPlaneUrl).hostname;
      const argv = [
        ...meshgateCommand(),
        'control-plane',
        '--config',
        cp.configDir,
        '--cluster-id',
        c.name,
        '--trust-domain',
        c.trustDomain,
        '--listen',
        `${host}:15012`,
        '--http-listen',
        `${host}:15014`,
        '--state-dir',
        cp.controlPlaneDir,
        '--token-public-key',
        cp.tokenPublicKeyFile,
        '--token-issuer',
        cp.tokenIssuer,
      ];
      const fd = openSync(this.logFileOf(`${c.name}/control-plane`), 'a', 0o644);
      try {
        const proc = this.group.start(`${c.name}/control-plane`, argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd] });
        c.controlPlanePid = proc.pid;
      } finally {
        closeSync(fd);
      }
    }
    const deadline = Date.now() + timeoutMs;
    for (const c of this.clusters) {
      while (!(await httpOk(`${c.controlPlaneUrl}/ready`))) {
        if (Date.now() > deadline)
          throw new SoakChainError(
            `control plane ${c.name} not ready ${timeoutMs} ms after its restart; see ${this.logFileOf(`${c.name}/control-plane`)}`,
          );
        await sleep(200);
      }
    }
  }

  async syncz(cluster: LabClusterInfo): Promise<ProxySync[]> {
    const j = JSON.parse(await getText(`${cluster.controlPlaneUrl}/debug/syncz`)) as { proxies: ProxySync[] };
    return j.proxies;
  }

  /** Waits until the control planes report every proxy of the lab connected, with CDS and LDS (and all else sent) SYNCED. */
  async waitSynced(timeoutMs: number): Promise<string> {
    const expected = this.chain.lab.proxies.length;
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const all = (await Promise.all(this.clusters.map((c) => this.syncz(c)))).flat();
        last = all
          .map(
            (p) =>
              `${p.proxy}: ${Object.entries(p.types)
                .map(([t, s]) => `${t}=${s.state}`)
                .join(',')}`,
          )
          .join('; ');
        // NOT SENT is a type the proxy never subscribed to (NDS without DNS capture): nothing to agree on.
        const synced = (p: ProxySync): boolean =>
          p.types.cds?.state === 'SYNCED' &&
          p.types.lds?.state === 'SYNCED' &&
          Object.values(p.types).every((s) => s.state === 'SYNCED' || s.state === 'NOT SENT');
        if (all.length >= expected && all.every(synced)) return last;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(250);
    }
    throw new SoakChainError(`not every proxy SYNCED within ${timeoutMs} ms: ${last}`);
  }

  async stop(): Promise<void> {
    await this.echo.stop();
    await this.chain.stop();
    await this.group.stopAll();
  }
}
