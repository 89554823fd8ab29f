// The seed scenario as the model sees it: the example config examples/mysql-cross-cluster/cluster-a|b
// (the seed's YAML plus the egress Gateway, the Service patches and the mysql Service) and test-only
// objects (gateway credentials from test certificates, the pods) loaded through the real config loader
// onto Istio's default install, and the four proxies of the three-leg path.
import path from 'node:path';
import { defaultInstallResult, defaultMeshConfig } from '../../src/config/default-install.js';
import { loadConfigPaths } from '../../src/config/load.js';
import { buildSnapshot } from '../../src/config/snapshot.js';
import type { ConfigObject, ConfigSnapshot, MeshConfig, Pod, Service } from '../../src/config/types.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';
import { repoRoot } from '../repo-root.js';

export const FIXTURES = (): string => path.join(repoRoot(), 'test', 'model', 'fixtures');

/** Loads config folders onto the default install and fails on any Error diagnostic, naming it. */
export async function loadSnapshot(dirs: string[], mesh: MeshConfig = defaultMeshConfig()): Promise<ConfigSnapshot> {
  const loaded = await loadConfigPaths(dirs);
  const base = defaultInstallResult(mesh);
  const { snapshot, diagnostics } = buildSnapshot([...base.objects, ...loaded.objects], loaded.patches, mesh, 1);
  const errors = [...loaded.diagnostics, ...diagnostics].filter((d) => d.level === 'Error');
  if (errors.length > 0)
    throw new Error(
      `fixture config has errors:\n${errors.map((d) => `${d.file}:${d.line}:${d.column} ${d.code} ${d.message}`).join('\n')}`,
    );
  return snapshot;
}

const EXAMPLE = (): string => path.join(repoRoot(), 'examples', 'mysql-cross-cluster');

export function clusterA(): Promise<ConfigSnapshot> {
  return loadSnapshot([path.join(EXAMPLE(), 'cluster-a'), path.join(FIXTURES(), 'cluster-a')]);
}

export function clusterB(): Promise<ConfigSnapshot> {
  return loadSnapshot([path.join(EXAMPLE(), 'cluster-b'), path.join(FIXTURES(), 'cluster-b')]);
}

function node(n: Omit<ProxyNode, 'id' | 'domainSuffix'>): ProxyNode {
  const full = { ...n, domainSuffix: 'cluster.local' };
  return { ...full, id: formatNodeId(full) };
}

export const clientSidecar = node({
  role: 'sidecar',
  ips: ['10.10.0.5'],
  podName: 'mysql-client-7d9f6c',
  namespace: 'default',
  serviceAccount: 'mysql-client',
  labels: { app: 'mysql-client' },
  clusterId: 'cluster-a',
  interceptionMode: 'REDIRECT',
});

export const egressGateway = node({
  role: 'router',
  ips: ['10.10.0.20'],
  podName: 'istio-egressgateway-5f7b8c',
  namespace: 'istio-system',
  serviceAccount: 'istio-egressgateway-service-account',
  labels: { app: 'istio-egressgateway', istio: 'egressgateway', 'security.istio.io/tlsMode': 'istio' },
  clusterId: 'cluster-a',
});

export const ingressGateway = node({
  role: 'router',
  ips: ['10.20.0.20'],
  podName: 'istio-ingressgateway-6b9d4f',
  namespace: 'istio-system',
  serviceAccount: 'istio-ingressgateway-service-account',
  labels: { app: 'istio-ingressgateway', istio: 'ingressgateway', 'security.istio.io/tlsMode': 'istio' },
  clusterId: 'cluster-b',
});

export const serverSidecar = node({
  role: 'sidecar',
  ips: ['10.20.0.5'],
  podName: 'mysql-0',
  namespace: 'default',
  serviceAccount: 'mysql',
  labels: { app: 'mysql' },
  clusterId: 'cluster-b',
  interceptionMode: 'REDIRECT',
});

/** A snapshot from typed objects, validated by the config layer exactly as loaded files are. */
export function snapshotOf(objects: ConfigObject[], mesh: Partial<MeshConfig> = {}): ConfigSnapshot {
  const m = { ...defaultMeshConfig(), ...mesh };
  const { snapshot, diagnostics } = buildSnapshot(
    objects.map((object, i) => ({ object, source: { file: '<test>', line: i + 1, column: 1 } })),
    [],
    m,
    1,
  );
  const errors = diagnostics.filter((d) => d.level === 'Error');
  if (errors.length > 0)
    throw new Error(`test objects do not validate:\n${errors.map((d) => `${d.object ?? ''} ${d.field ?? ''} ${d.message}`).join('\n')}`);
  return snapshot;
}

export function sidecarNode(over: Partial<ProxyNode> & Pick<ProxyNode, 'podName' | 'namespace' | 'labels'>): ProxyNode {
  return node({ role: 'sidecar', ips: ['10.0.0.9'], serviceAccount: 'default', clusterId: 'test', interceptionMode: 'REDIRECT', ...over });
}

export function routerNode(over: Partial<ProxyNode> & Pick<ProxyNode, 'podName' | 'namespace' | 'labels'>): ProxyNode {
  return node({ role: 'router', ips: ['10.0.0.99'], serviceAccount: 'gw', clusterId: 'test', ...over });
}

export function pod(
  name: string,
  namespace: string,
  ip: string,
  labels: Record<string, string>,
  opts: { sidecar?: boolean; sa?: string; ports?: { containerPort: number; name?: string }[] } = {},
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels, ...(opts.sidecar ? { annotations: { 'sidecar.istio.io/status': '{}' } } : {}) },
    spec: { serviceAccountName: opts.sa ?? 'default', containers: [{ name: 'app', ...(opts.ports ? { ports: opts.ports } : {}) }] },
    status: { phase: 'Running', podIP: ip },
  };
}

export function service(
  name: string,
  namespace: string,
  selector: Record<string, string>,
  ports: { name: string; port: number; targetPort?: number | string }[],
  clusterIP?: string,
): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { selector, ports: ports.map((p) => ({ protocol: 'TCP' as const, ...p })), ...(clusterIP ? { clusterIP } : {}) },
  };
}
