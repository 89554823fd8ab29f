// What Istio's installation puts in every cluster that the seed's YAML relies on: the istio-system
// namespace and the ingress and egress gateway Services with their ServiceAccounts. `istioctl analyze`
// runs against a live cluster that has them, so meshgate's analyze (and the seed's Service patch) needs
// them too. Ports as in istio/istio manifests/charts/gateways/istio-{ingress,egress}/values.yaml: the
// ingress gateway exposes status-port 15021, http2 80→8080 and https 443→8443; the egress gateway only
// http2 80→8080 and https 443→8443 (15443 is not there: the seed's egress port needs a Service patch).
import type { LoadResult } from './load.js';
import type { ConfigObject, MeshConfig, Namespace, Service, ServiceAccount } from './types.js';

export const DEFAULT_INSTALL_FILE = '<istio default install>';

export function defaultMeshConfig(): MeshConfig {
  return { trustDomain: 'cluster.local', domainSuffix: 'cluster.local', rootNamespace: 'istio-system', outboundTrafficPolicy: 'ALLOW_ANY' };
}

function gatewayService(
  name: string,
  istioLabel: string,
  ports: { name: string; port: number; targetPort: number }[],
  ns: string,
): Service {
  const labels = { app: name, istio: istioLabel };
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: { ...labels, 'install.operator.istio.io/owning-resource': 'installed-state' } },
    spec: {
      type: name === 'istio-ingressgateway' ? 'LoadBalancer' : 'ClusterIP',
      selector: labels,
      ports: ports.map((p) => ({ name: p.name, protocol: 'TCP' as const, port: p.port, targetPort: p.targetPort })),
    },
  };
}

export function defaultInstallObjects(mesh: MeshConfig): ConfigObject[] {
  const ns = mesh.rootNamespace;
  const namespace: Namespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: ns, namespace: '', labels: { 'kubernetes.io/metadata.name': ns } },
  };
  const sa = (name: string): ServiceAccount => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } });
  return [
    namespace,
    gatewayService(
      'istio-ingressgateway',
      'ingressgateway',
      [
        { name: 'status-port', port: 15021, targetPort: 15021 },
        { name: 'http2', port: 80, targetPort: 8080 },
        { name: 'https', port: 443, targetPort: 8443 },
      ],
      ns,
    ),
    sa('istio-ingressgateway-service-account'),
    gatewayService(
      'istio-egressgateway',
      'egressgateway',
      [
        { name: 'http2', port: 80, targetPort: 8080 },
        { name: 'https', port: 443, targetPort: 8443 },
      ],
      ns,
    ),
    sa('istio-egressgateway-service-account'),
  ];
}

/** The default install as a LoadResult, for `ConfigStore.setSource('default-install', ...)`. */
export function defaultInstallResult(mesh: MeshConfig): LoadResult {
  return {
    objects: defaultInstallObjects(mesh).map((object) => ({ object, source: { file: DEFAULT_INSTALL_FILE, line: 1, column: 1 } })),
    patches: [],
    diagnostics: [],
  };
}
