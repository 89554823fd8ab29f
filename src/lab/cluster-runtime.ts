// A cluster's "Kubernetes API server", the one boundary the lab mocks: a folder the control plane
// watches, holding the user's config, a Pod object for every workload and gateway, and the credential
// Secrets; plus the cluster's service-account token signing key and one token file per pod.
import { chmodSync, chownSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { writePrivateFileSync } from '../pki/private-file.js';
import { TokenIssuer } from '../pki/workload-token.js';
import type { LabCluster, LabFile } from './lab-file.js';
import type { LabPlan, PlannedCluster, PlannedPod } from './lab-plan.js';

export class ClusterRuntimeError extends Error {
  constructor(
    readonly code: 'E_LAB_CREDENTIALS',
    message: string,
  ) {
    super(message);
    this.name = 'ClusterRuntimeError';
  }
}

/** The proxy's uid and gid (Istio's 1337): what capture exempts, and who must read the pod's files. */
export const PROXY_UID = 1337;

export interface ClusterPaths {
  root: string;
  /** The folder the control plane watches. */
  configDir: string;
  /** The control plane's own state (mesh CA, root-cert.pem). */
  controlPlaneDir: string;
  tokenPublicKeyFile: string;
  tokenIssuer: string;
}

export interface PodPaths {
  dir: string;
  bootstrapFile: string;
  tokenFile: string;
  accessLogFile: string;
  hostsFile: string;
}

export function clusterPaths(stateDir: string, cluster: Pick<PlannedCluster, 'name'>): ClusterPaths {
  const root = path.join(stateDir, 'clusters', cluster.name);
  return {
    root,
    configDir: path.join(root, 'config'),
    controlPlaneDir: path.join(root, 'control-plane'),
    tokenPublicKeyFile: path.join(root, 'token-signing-key.pub.pem'),
    tokenIssuer: `https://kubernetes.default.svc/${cluster.name}`,
  };
}

export function podPaths(stateDir: string, pod: Pick<PlannedPod, 'cluster' | 'namespace' | 'name'>): PodPaths {
  const dir = path.join(stateDir, 'pods', pod.cluster, pod.namespace, pod.name);
  return {
    dir,
    bootstrapFile: path.join(dir, 'bootstrap.json'),
    tokenFile: path.join(dir, 'token'),
    accessLogFile: path.join(dir, 'access.log'),
    hostsFile: path.join(dir, 'hosts'),
  };
}

/** The Pod object a Kubernetes API server would hold for this pod (what the control plane needs for endpoints). */
export function podObject(pod: PlannedPod): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      labels: pod.labels,
      ...(pod.sidecar
        ? { annotations: { 'sidecar.istio.io/status': JSON.stringify({ containers: ['istio-proxy'], initContainers: ['istio-init'] }) } }
        : {}),
    },
    spec: {
      serviceAccountName: pod.serviceAccount,
      containers: [{ name: pod.kind === 'gateway' ? 'istio-proxy' : pod.name, ports: pod.ports.map((p) => ({ containerPort: p })) }],
    },
    status: { phase: 'Running', podIP: pod.address, podIPs: [{ ip: pod.address }] },
  };
}

/**
 * loopback mode: pods share one loopback, so an application cannot own 127.0.0.1:PORT the way it does
 * in its own network namespace. A Sidecar per workload (Istio's captureMode-NONE setup) tells its
 * sidecar where the application really listens: `ingress[].defaultEndpoint: 127.0.0.1:<app port>`,
 * with egress left as Istio's default (every namespace).
 */
export function loopbackSidecarObject(pod: PlannedPod, appPorts: Map<number, number>): object {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Sidecar',
    metadata: { name: `lab-${pod.name}`, namespace: pod.namespace },
    spec: {
      workloadSelector: { labels: pod.labels },
      ingress: pod.ports.map((port) => ({
        port: { number: port, protocol: 'TCP', name: `tcp-${port}` },
        defaultEndpoint: `127.0.0.1:${appPorts.get(port) ?? port}`,
      })),
      egress: [{ hosts: ['*/*'] }],
    },
  };
}

/** Reads every Secret in the YAML files of a folder (the credentials script's output). */
export function readSecretsFolder(dir: string): Map<string, object> {
  const out = new Map<string, object>();
  for (const f of readdirSync(dir).sort()) {
    if (!/\.(ya?ml|json)$/.test(f)) continue;
    for (const doc of parseAllDocuments(readFileSync(path.join(dir, f), 'utf8'))) {
      const o = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (o?.kind === 'Secret' && o.metadata?.name) out.set(o.metadata.name, o);
    }
  }
  return out;
}

/**
 * Writes this cluster's Secrets (the names its lab entry lists, plus each one's `<name>-cacert`
 * companion when present) into its config folder; called at start and again after rotation.
 */
export function writeClusterSecrets(paths: ClusterPaths, cluster: LabCluster, secrets: Map<string, object>): void {
  const dir = path.join(paths.configDir, 'lab-secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const name of cluster.secrets) {
    const s = secrets.get(name);
    if (!s)
      throw new ClusterRuntimeError(
        'E_LAB_CREDENTIALS',
        `cluster ${cluster.name} needs Secret "${name}", which the credentials script did not produce (it produced: ${[...secrets.keys()].join(', ') || 'nothing'})`,
      );
    const docs = [s, ...(secrets.has(`${name}-cacert`) ? [secrets.get(`${name}-cacert`)!] : [])];
    // A temporary name and a rename (private-file.ts), so the control plane's watcher never reads half a Secret.
    writePrivateFileSync(path.join(dir, `${name}.yaml`), docs.map((d) => stringify(d)).join('---\n'));
  }
}

/** Prepares the cluster's folder: the user's config copied in, Pod objects, a token signing key. */
export async function prepareCluster(
  lab: LabFile,
  plan: LabPlan,
  cluster: PlannedCluster,
  stateDir: string,
  appPorts: Map<string, Map<number, number>> = new Map(),
): Promise<{ paths: ClusterPaths; issuer: TokenIssuer }> {
  const labCluster = lab.clusters.find((c) => c.name === cluster.name)!;
  const paths = clusterPaths(stateDir, cluster);
  mkdirSync(paths.configDir, { recursive: true });
  mkdirSync(paths.controlPlaneDir, { recursive: true });
  labCluster.config.forEach((p, i) => {
    const src = path.resolve(lab.dir, p);
    const dst = path.join(paths.configDir, `user-${i}-${path.basename(src)}`);
    cpSync(src, statSync(src).isDirectory() ? dst : path.join(dst, path.basename(src)), { recursive: true });
  });
  const pods = plan.pods.filter((p) => p.cluster === cluster.name);
  writeFileSync(path.join(paths.configDir, 'lab-pods.yaml'), pods.map((p) => stringify(podObject(p))).join('---\n'));
  const sidecars = pods.filter((p) => appPorts.has(`${p.cluster}/${p.namespace}/${p.name}`));
  if (sidecars.length > 0) {
    writeFileSync(
      path.join(paths.configDir, 'lab-sidecars.yaml'),
      sidecars.map((p) => stringify(loopbackSidecarObject(p, appPorts.get(`${p.cluster}/${p.namespace}/${p.name}`)!))).join('---\n'),
    );
  }
  const issuer = await TokenIssuer.create(paths.tokenIssuer);
  writePrivateFileSync(paths.tokenPublicKeyFile, issuer.publicKeyPem(), { mode: 0o644 });
  return { paths, issuer };
}

/** Makes a pod's folder and token; in netns mode the proxy (uid 1337) owns them. */
export async function preparePod(
  stateDir: string,
  plan: LabPlan,
  pod: PlannedPod,
  issuer: TokenIssuer,
  ttlSeconds = 7 * 24 * 3600,
): Promise<PodPaths> {
  const paths = podPaths(stateDir, pod);
  mkdirSync(paths.dir, { recursive: true });
  writePrivateFileSync(paths.tokenFile, await issuer.mint({ namespace: pod.namespace, serviceAccount: pod.serviceAccount, ttlSeconds }));
  writeFileSync(paths.hostsFile, plan.hosts.get(`${pod.cluster}/${pod.namespace}/${pod.name}`) ?? '127.0.0.1\tlocalhost\n', {
    mode: 0o644,
  });
  if (plan.mode === 'netns') {
    chownSync(paths.dir, PROXY_UID, PROXY_UID);
    chownSync(paths.tokenFile, PROXY_UID, PROXY_UID);
    chmodSync(paths.dir, 0o755);
  }
  return paths;
}
