// The meshgate chain: the real product path. The lab (src/lab/lab.ts) in loopback mode starts one
// control plane per cluster from the example's Istio YAML and four meshgate proxies configured over xDS;
// the benchmark's lab file (bench/lab/lab.yaml) leaves the server pod without a program so that each
// load's backend (MariaDB, iperf3, the echo server) can be bound in turn where the server's sidecar
// forwards (in loopback mode 127.0.0.1:<port> from the lab's Sidecar object).
// The gateway-to-gateway leg then gets the same R-signed credentials as the HAProxy chain, written as
// Kubernetes Secrets into the clusters' config folders — the way an operator rotates them.
import { existsSync } from 'node:fs';
import net from 'node:net';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { upLab, type LabProxyInfo, type RunningLab } from '../src/lab/lab.js';
import { issueIngressServerCredential, MYSQL_SNI, type BenchCertificates, type BenchLeaf } from './certs.js';
import { presentedSerial, type RotationHook, type TlsProbe } from './loads/rotation.js';
import { runChurn } from './loads/churn.js';
import { packageRoot } from '../src/shared/package-root.js';
import type { Runtime } from '../src/shared/runtime.js';

export class MeshgateChainError extends Error {
  readonly code = 'E_BENCH_MESHGATE';
}

export const BENCH_CLIENT_CLUSTER = 'cluster-a';
export const BENCH_SERVER_CLUSTER = 'cluster-b';
export const BENCH_CLIENT_WORKLOAD = 'client';
export const BENCH_SERVER_WORKLOAD = 'mysql';
export const BENCH_SERVER_PORT = 3306;
/** The seed's Gateway port on the ingress gateway, and its Secret names. */
export const INGRESS_PORT = 13306;
export const INGRESS_SECRET = 'mysql-credential';
export const EGRESS_SECRET = 'client-credential';

export interface MeshgateChain {
  clientTarget: { host: string; port: number };
  /** Where the server pod's program listens; the benchmark binds each backend here. */
  backend: { host: string; port: number };
  /** The four proxies on the path, in path order. */
  proxies: { name: string; pid: number }[];
  lab: RunningLab;
  /** Rotation of the ingress gateway's R-signed credential (a new Secret in cluster B's config folder). */
  rotation: RotationHook;
  stop(): Promise<void>;
}

export function benchLabFile(): string {
  return path.join(packageRoot(), 'bench', 'lab', 'lab.yaml');
}

/** The client sidecar, the egress gateway (client cluster), the ingress gateway (server cluster), the server sidecar. */
export function pathProxies(proxies: readonly LabProxyInfo[]): LabProxyInfo[] {
  const find = (what: string, pred: (p: LabProxyInfo) => boolean): LabProxyInfo => {
    const p = proxies.find(pred);
    if (!p)
      throw new MeshgateChainError(
        `the lab has no ${what} proxy; it has: ${proxies.map((x) => `${x.cluster}/${x.namespace}/${x.name} (${x.role})`).join(', ')}`,
      );
    return p;
  };
  return [
    find('client sidecar', (p) => p.cluster === BENCH_CLIENT_CLUSTER && p.role === 'sidecar' && p.name === BENCH_CLIENT_WORKLOAD),
    find('egress gateway', (p) => p.cluster === BENCH_CLIENT_CLUSTER && p.gateway === 'egress'),
    find('ingress gateway', (p) => p.cluster === BENCH_SERVER_CLUSTER && p.gateway === 'ingress'),
    find('server sidecar', (p) => p.cluster === BENCH_SERVER_CLUSTER && p.role === 'sidecar' && p.name === BENCH_SERVER_WORKLOAD),
  ];
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A Secret file's next content, rendered but not yet on disk. */
export interface RenderedSecretFile {
  file: string;
  text: string;
}

/**
 * The next content of Secret `name` in a cluster's config folder (`lab-secrets/<name>.yaml`, written by
 * the lab): a credential in Istio's `tls.crt`/`tls.key`/`ca.crt` form, keeping each Secret's metadata and
 * the file's layout: when the file also holds the `<name>-cacert` companion, the CA goes there (Istio reads
 * it from the companion when one exists).
 */
export async function renderCredentialSecret(configDir: string, name: string, leaf: BenchLeaf, caPem: string): Promise<RenderedSecretFile> {
  const file = path.join(configDir, 'lab-secrets', `${name}.yaml`);
  type SecretDoc = {
    apiVersion?: string;
    kind?: string;
    metadata?: Record<string, unknown>;
    type?: string;
    data?: Record<string, string>;
    stringData?: unknown;
  };
  const docs: SecretDoc[] = existsSync(file)
    ? parseAllDocuments(await readFile(file, 'utf8'))
        .map((d) => d.toJS() as SecretDoc)
        .filter((d) => d !== null)
    : [];
  const meta = (d: SecretDoc | undefined, n: string): Record<string, unknown> => ({
    name: n,
    namespace: (d?.metadata?.namespace as string | undefined) ?? 'istio-system',
  });
  const main = docs.find((d) => d.kind === 'Secret' && d.metadata?.name === name);
  const companion = docs.find((d) => d.kind === 'Secret' && d.metadata?.name === `${name}-cacert`);
  const out: SecretDoc[] = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(main, name),
      type: 'Opaque',
      data: { 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem), ...(companion ? {} : { 'ca.crt': b64(caPem) }) },
    },
    ...(companion
      ? [{ apiVersion: 'v1', kind: 'Secret', metadata: meta(companion, `${name}-cacert`), type: 'Opaque', data: { 'ca.crt': b64(caPem) } }]
      : []),
    ...docs.filter((d) => d !== main && d !== companion),
  ];
  return { file, text: out.map((d) => stringify(d)).join('---\n') };
}

/** Puts a rendered Secret file in place: written to a temp file and renamed, as the lab does. */
export async function replaceSecretFile(r: RenderedSecretFile): Promise<void> {
  const tmp = path.join(path.dirname(r.file), `.${path.basename(r.file)}.bench-tmp`);
  await writeFile(tmp, r.text, { mode: 0o600 });
  await rename(tmp, r.file);
}

/** Renders and replaces Secret `name` in one step (set-up, outside any measured interval). */
export async function writeCredentialSecret(configDir: string, name: string, leaf: BenchLeaf, caPem: string): Promise<void> {
  await replaceSecretFile(await renderCredentialSecret(configDir, name, leaf, caPem));
}

/**
 * Where the server pod's application must listen. Loopback mode fronts each application with a Sidecar
 * object whose `ingress[].defaultEndpoint` (127.0.0.1:<free port>) is where its sidecar forwards; the
 * lab writes it into the cluster's config folder (`lab-sidecars.yaml`). Without one, the pod address.
 */
export async function serverBackendAddress(
  configDir: string,
  workload: { name: string; namespace: string; address: string },
  port: number,
): Promise<{ host: string; port: number }> {
  const file = path.join(configDir, 'lab-sidecars.yaml');
  if (!existsSync(file)) return { host: workload.address, port };
  for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
    const o = doc.toJS() as {
      kind?: string;
      metadata?: { name?: string; namespace?: string };
      spec?: { ingress?: { port?: { number?: number }; defaultEndpoint?: string }[] };
    } | null;
    if (o?.kind !== 'Sidecar' || o.metadata?.name !== `lab-${workload.name}` || (o.metadata?.namespace ?? 'default') !== workload.namespace)
      continue;
    const endpoint = o.spec?.ingress?.find((i) => i.port?.number === port)?.defaultEndpoint;
    const m = endpoint?.match(/^(.+):(\d+)$/);
    if (m) return { host: m[1]!, port: Number(m[2]) };
  }
  throw new MeshgateChainError(`${file} has no Sidecar ingress for ${workload.namespace}/${workload.name} port ${port}`);
}

async function waitForSerial(probe: TlsProbe, serial: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      last = await presentedSerial(probe);
      if (last === serial) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new MeshgateChainError(`the ingress gateway did not present serial ${serial} within ${timeoutMs} ms (last: ${last})`);
}

/**
 * Waits until one connection goes through the whole chain and back (an echo server standing in at the
 * backend's address meanwhile): the ingress presenting its new certificate does not yet mean the egress
 * gateway trusts root R, and the first load would meet "self-signed certificate in certificate chain".
 */
async function waitForChain(
  client: { host: string; port: number },
  backend: { host: string; port: number },
  timeoutMs: number,
): Promise<void> {
  const echo = net.createServer((s) => {
    s.on('error', () => s.destroy()); // a probe that gives up resets; nothing to report
    s.pipe(s);
  });
  await new Promise<void>((resolve, reject) => {
    echo.once('error', reject);
    echo.listen(backend.port, backend.host, () => resolve());
  });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await runChurn({ host: client.host, port: client.port, connections: 1, concurrency: 1, timeoutMs: 2000, maxSeconds: 5 });
      if (r.failures === 0 && r.connections === 1) return;
      if (Date.now() > deadline)
        throw new MeshgateChainError(
          `no connection made it through the meshgate chain to ${backend.host}:${backend.port} within ${timeoutMs} ms`,
        );
      await new Promise((res) => setTimeout(res, 200));
    }
  } finally {
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  }
}

export async function startMeshgateChain(opts: {
  certs: BenchCertificates;
  onProgress?: (line: string) => void;
  /** The runtime the four proxies run under (default node). */
  proxyRuntime?: Runtime;
}): Promise<MeshgateChain> {
  // A state folder of its own, so a benchmark never collides with another lab on this machine.
  const stateDir = await mkdtemp(path.join(tmpdir(), 'meshgate-bench-lab-'));
  let lab: RunningLab;
  try {
    lab = await upLab({
      labFile: benchLabFile(),
      mode: 'loopback',
      stateDir,
      ...(opts.proxyRuntime ? { proxyRuntime: opts.proxyRuntime } : {}),
      onProgress: (e) => opts.onProgress?.(`lab ${e.step}: ${e.status}${e.detail ? ` (${e.detail})` : ''}`),
    });
  } catch (err) {
    await rm(stateDir, { recursive: true, force: true });
    throw err;
  }
  const down = async (): Promise<void> => {
    try {
      await lab.down();
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  };
  try {
    const server = lab.workloads.find((w) => w.cluster === BENCH_SERVER_CLUSTER && w.name === BENCH_SERVER_WORKLOAD);
    if (!server) throw new MeshgateChainError(`the lab has no workload ${BENCH_SERVER_CLUSTER}/${BENCH_SERVER_WORKLOAD}`);
    if (!lab.clientTarget) throw new MeshgateChainError('the bench lab file names no client');
    if (lab.clientTarget.netns) throw new MeshgateChainError('the lab came up in netns mode; the benchmark needs loopback mode');
    const onPath = pathProxies(lab.proxies);
    const ingress = onPath[2]!;
    const clusterDir = (name: string): string => {
      const c = lab.clusters.find((x) => x.name === name);
      if (!c) throw new MeshgateChainError(`the lab has no cluster ${name}`);
      return c.configDir;
    };
    const certs = opts.certs;
    const probe: TlsProbe = {
      host: ingress.address,
      port: INGRESS_PORT,
      servername: MYSQL_SNI,
      caPem: certs.root.certPem,
      certPem: certs.egressClient.certPem,
      keyPem: certs.egressClient.keyPem,
    };
    // The same R-signed gateway credentials as the HAProxy chain: the client one first, so the egress
    // gateway trusts R before the ingress starts presenting an R-signed certificate.
    await writeCredentialSecret(clusterDir(BENCH_CLIENT_CLUSTER), EGRESS_SECRET, certs.egressClient, certs.root.certPem);
    await writeCredentialSecret(clusterDir(BENCH_SERVER_CLUSTER), INGRESS_SECRET, certs.ingressServer, certs.root.certPem);
    await waitForSerial(probe, certs.ingressServer.serialHex, 30_000);
    const clientTarget = { host: lab.clientTarget.host, port: lab.clientTarget.port };
    const backend = await serverBackendAddress(clusterDir(BENCH_SERVER_CLUSTER), server, BENCH_SERVER_PORT);
    await waitForChain(clientTarget, backend, 30_000);
    return {
      clientTarget,
      backend,
      proxies: onPath.map((p) => ({ name: `${p.cluster}/${p.namespace}/${p.name}`, pid: p.pid })),
      lab,
      rotation: {
        probe,
        async prepare() {
          // Issued and rendered before the clock starts: the figure is from the file being replaced.
          const leaf = await issueIngressServerCredential(certs.root);
          const next = await renderCredentialSecret(clusterDir(BENCH_SERVER_CLUSTER), INGRESS_SECRET, leaf, certs.root.certPem);
          return { serial: leaf.serialHex, replace: () => replaceSecretFile(next) };
        },
      },
      stop: down,
    };
  } catch (err) {
    await down();
    throw err;
  }
}
