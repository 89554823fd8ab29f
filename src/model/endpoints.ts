// Endpoints: Kubernetes Services' pods as EDS ClusterLoadAssignments, ServiceEntry endpoints as load
// assignments inline in STATIC/DNS clusters. Endpoint metadata carries Istio's tlsMode so a reader (or
// a real Envoy with transport socket matches) can see which backends speak mesh mTLS, and, for pods,
// Istio's telemetry string (`istio.workload`) plus app/version, which the proxy's metric labels use.
import type { ClusterLoadAssignment, HealthStatusEndpoint, LocalityLbEndpoints } from '../envoy/envoy-types.js';
import type { ServiceEndpoint } from './services.js';
import { byString } from './labels.js';
import { encodeWorkloadMetadata, workloadMetadataOf } from '../envoy/workload-metadata.js';

function lbEndpoint(ep: ServiceEndpoint, clusterId: string): HealthStatusEndpoint {
  const out: HealthStatusEndpoint = {
    endpoint: { address: { socketAddress: { address: ep.address, portValue: ep.port } } },
    healthStatus: 'HEALTHY',
  };
  if (ep.weight !== undefined && ep.weight > 0) out.loadBalancingWeight = ep.weight;
  const filterMetadata: Record<string, Record<string, unknown>> = {};
  if (ep.hasProxy) filterMetadata['envoy.transport_socket_match'] = { tlsMode: 'istio' };
  if (ep.pod) {
    const workload = workloadMetadataOf({ podName: ep.pod.metadata.name, namespace: ep.namespace, labels: ep.labels, cluster: clusterId });
    Object.assign(filterMetadata, encodeWorkloadMetadata(workload));
  }
  if (Object.keys(filterMetadata).length > 0) out.metadata = { filterMetadata };
  return out;
}

function parseLocality(l: string | undefined): LocalityLbEndpoints['locality'] | undefined {
  if (!l) return undefined;
  const [region, zone, subZone] = l.split('/');
  return { ...(region ? { region } : {}), ...(zone ? { zone } : {}), ...(subZone ? { subZone } : {}) };
}

/** Groups endpoints by locality (Istio's region/zone/subzone), in a stable order. */
export function loadAssignment(clusterName: string, eps: readonly ServiceEndpoint[], clusterId: string): ClusterLoadAssignment {
  const groups = new Map<string, ServiceEndpoint[]>();
  for (const ep of eps) {
    const key = ep.locality ?? '';
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(ep);
  }
  const endpoints: LocalityLbEndpoints[] = [...groups.keys()].sort(byString).map((key) => {
    const locality = parseLocality(key);
    return { ...(locality ? { locality } : {}), lbEndpoints: (groups.get(key) ?? []).map((ep) => lbEndpoint(ep, clusterId)) };
  });
  return { clusterName, endpoints };
}
