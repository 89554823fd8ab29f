// The control-plane benchmark: N services (ServiceEntry + DestinationRule + VirtualService each) and M
// light ADS clients in this process against meshgate's control plane, started as the lab starts it
// (`meshgate control-plane --config DIR ...`). Measures the time until every client has its first full
// push (CDS, EDS, LDS), the time for a one-object change (a DestinationRule) to reach every affected
// client, and the control plane's RSS and CPU from /proc.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TokenIssuer } from '../../src/pki/workload-token.js';
import { packageRoot } from '../../src/shared/package-root.js';
import { freePorts } from '../ports.js';
import { ProcessGroup } from '../processes.js';
import { cpuSeconds, rssKb } from '../procstat.js';
import { AdsFleet, benchNode } from './ads-fleet.js';
import { BENCH_NAMESPACES, serviceFile, serviceYaml, simulatedPodsYaml, writeMeshConfig } from './generate.js';

export interface ControlPlaneBenchResult {
  services: number;
  clients: number;
  connectSeconds: number;
  firstPushSeconds: number;
  changeSeconds: number;
  changeReached: number;
  rssMb: number;
  rssMaxMb: number;
  cpuSeconds: number;
  streamErrors: string[];
}

export class ControlPlaneBenchError extends Error {
  readonly code = 'E_BENCH_CONTROLPLANE';
}

const CLUSTER_ID = 'bench';
const TRUST_DOMAIN = 'cluster.local';
const XDS_SERVER_NAME = 'istiod.istio-system.svc';

async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
  onTick?: () => void,
  progress?: () => string,
): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > timeoutMs)
      throw new ControlPlaneBenchError(`${what}: not done within ${timeoutMs / 1000} s${progress ? ` (${progress()})` : ''}`);
    onTick?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - t0;
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false; // not up yet: the caller polls
  }
}

export async function runControlPlaneBench(opts: {
  services: number;
  clients: number;
  log: (line: string) => void;
}): Promise<ControlPlaneBenchResult> {
  const cli = path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(cli)) throw new ControlPlaneBenchError(`meshgate is not built (${cli} missing): run npm run build`);
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-bench-cp-'));
  const group = new ProcessGroup();
  let fleet: AdsFleet | undefined;
  try {
    const configDir = path.join(dir, 'config');
    const stateDir = path.join(dir, 'state');
    await writeMeshConfig(configDir, opts.services);
    const nodes = Array.from({ length: opts.clients }, (_, i) => benchNode(i, CLUSTER_ID, BENCH_NAMESPACES));
    await writeFile(path.join(configDir, 'simulated-pods.yaml'), simulatedPodsYaml(nodes));
    const issuerName = 'https://kubernetes.default.svc/bench';
    const issuer = await TokenIssuer.create(issuerName);
    const keyFile = path.join(dir, 'token-signing-key.pub.pem');
    await writeFile(keyFile, issuer.publicKeyPem());
    const [xdsPort, httpPort] = (await freePorts(2)) as [number, number];
    opts.log(`control plane: ${opts.services} services, ${opts.clients} simulated proxies; config in ${configDir}`);
    // MESHGATE_BENCH_PROFILE=DIR: a V8 CPU profile of the control plane, written when it exits.
    const profileDir = process.env.MESHGATE_BENCH_PROFILE;
    const cp = group.start('control plane', process.execPath, [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      cli,
      'control-plane',
      '--config',
      configDir,
      '--cluster-id',
      CLUSTER_ID,
      '--trust-domain',
      TRUST_DOMAIN,
      '--listen',
      `127.0.0.1:${xdsPort}`,
      '--http-listen',
      `127.0.0.1:${httpPort}`,
      '--state-dir',
      stateDir,
      '--token-public-key',
      keyFile,
      '--token-issuer',
      issuerName,
    ]);
    const exited = (): boolean => cp.child.exitCode !== null || cp.child.signalCode !== null;
    await waitUntil('control plane ready', 120_000, async () => {
      if (exited()) throw new ControlPlaneBenchError(`the control plane exited: ${cp.output()}`);
      return existsSync(path.join(stateDir, 'root-cert.pem')) && (await httpOk(`http://127.0.0.1:${httpPort}/ready`));
    });
    const rootCertPem = await readFile(path.join(stateDir, 'root-cert.pem'), 'utf8');
    const tokens = await Promise.all(
      nodes.map((n) => issuer.mint({ namespace: n.namespace, serviceAccount: n.serviceAccount, ttlSeconds: 3600 })),
    );
    let rssMax = rssKb(cp.pid);
    const sample = (): void => {
      rssMax = Math.max(rssMax, rssKb(cp.pid));
    };
    const cpu0 = cpuSeconds(cp.pid);

    fleet = new AdsFleet({
      address: `127.0.0.1:${xdsPort}`,
      rootCertPem,
      serverName: XDS_SERVER_NAME,
      count: opts.clients,
      token: async (i) => tokens[i]!,
      node: (i) => nodes[i]!,
    });
    const f = fleet;
    const t0 = performance.now();
    await f.connect();
    const connectSeconds = (performance.now() - t0) / 1000;
    let lastLog = 0;
    await waitUntil(
      'first full push to every client',
      300_000,
      () => {
        if (f.errors().length > 0)
          throw new ControlPlaneBenchError(`ADS streams failed: ${[...new Set(f.errors())].slice(0, 3).join('; ')}`);
        return f.fullyPushed() === opts.clients;
      },
      () => {
        sample();
        if (performance.now() - lastLog > 2000) {
          lastLog = performance.now();
          opts.log(`control plane: ${f.fullyPushed()}/${opts.clients} clients fully pushed (${f.progress()})`);
        }
      },
      () => `${f.fullyPushed()} of ${opts.clients} clients fully pushed`,
    );
    const firstPushSeconds = (performance.now() - t0) / 1000;
    opts.log(
      `control plane: first full push to ${opts.clients} clients in ${firstPushSeconds.toFixed(2)} s (streams opened in ${connectSeconds.toFixed(2)} s)`,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const rssMb = rssKb(cp.pid) / 1024;
    sample();

    // One-object change: a DestinationRule's connection pool, which changes a cluster every client has.
    const changed = Math.floor(opts.services / 2);
    const tmp = `${serviceFile(configDir, changed)}.tmp`;
    await writeFile(tmp, serviceYaml(changed, 1));
    const c0 = performance.now();
    await rename(tmp, serviceFile(configDir, changed));
    let changeSeconds = Number.NaN;
    try {
      await waitUntil(
        'one-object change to every client',
        120_000,
        () => f.cdsChangedSince(c0).count === opts.clients,
        sample,
        () => `${f.cdsChangedSince(c0).count} of ${opts.clients} clients saw it`,
      );
      changeSeconds = (f.cdsChangedSince(c0).lastAt - c0) / 1000;
      opts.log(`control plane: one DestinationRule change reached ${opts.clients} clients in ${changeSeconds.toFixed(3)} s`);
    } catch (err) {
      // The first push is measured; the change figure stays missing and the reason is reported.
      opts.log(`control plane: ${(err as Error).message}`);
    }
    sample();
    return {
      services: opts.services,
      clients: opts.clients,
      connectSeconds,
      firstPushSeconds,
      changeSeconds,
      changeReached: f.cdsChangedSince(c0).count,
      rssMb,
      rssMaxMb: rssMax / 1024,
      cpuSeconds: cpuSeconds(cp.pid) - cpu0,
      streamErrors: [...new Set(f.errors())].slice(0, 10),
    };
  } finally {
    fleet?.close();
    await group.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}
