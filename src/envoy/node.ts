// Who a proxy is, as it tells the control plane in the xDS `Node` message. Istio encodes the role and
// address in the node id (`sidecar~10.0.0.1~client-7d9f.default~default.svc.cluster.local`) and the rest
// in `node.metadata` under upper-case keys (NAMESPACE, SERVICE_ACCOUNT, LABELS, CLUSTER_ID, ...).
// meshgate uses the same encoding so that Istio users recognise it and a real Envoy could connect.

export type ProxyRole = 'sidecar' | 'router';

export interface ProxyNode {
  /** Istio node id: `${role}~${ips[0]}~${podName}.${namespace}~${namespace}.svc.${domainSuffix}`. */
  id: string;
  role: ProxyRole;
  /** The proxy's workload addresses (INSTANCE_IPS). */
  ips: string[];
  podName: string;
  namespace: string;
  serviceAccount: string;
  labels: Record<string, string>;
  /** CLUSTER_ID: the cluster this proxy belongs to (Istio: `Kubernetes` by default). */
  clusterId: string;
  /** DNS domain suffix of the cluster, `cluster.local` by default. */
  domainSuffix: string;
  /** Ports the workload listens on (inbound), from the pod spec. */
  workloadPorts?: number[];
  /**
   * How outbound traffic reaches the proxy (Istio's INTERCEPTION_MODE): REDIRECT means iptables sends it
   * to the virtual outbound listener (15001) and listeners for service ports do not bind; NONE means no
   * capture, so outbound listeners bind to a local address the workload connects to directly.
   */
  interceptionMode?: 'REDIRECT' | 'NONE';
  /** Istio proxy version reported by the proxy. */
  version?: string;
}

export const DEFAULT_DOMAIN_SUFFIX = 'cluster.local';

export function formatNodeId(n: Pick<ProxyNode, 'role' | 'ips' | 'podName' | 'namespace' | 'domainSuffix'>): string {
  return `${n.role}~${n.ips[0] ?? '127.0.0.1'}~${n.podName}.${n.namespace}~${n.namespace}.svc.${n.domainSuffix}`;
}

export class NodeIdError extends Error {
  readonly code = 'E_NODE_ID';
}

/** Parses an Istio node id into role, first IP, pod name and namespace. */
export function parseNodeId(id: string): Pick<ProxyNode, 'role' | 'ips' | 'podName' | 'namespace' | 'domainSuffix'> {
  const parts = id.split('~');
  if (parts.length !== 4)
    throw new NodeIdError(`node id "${id}" must have 4 parts separated by "~" (role~ip~pod.namespace~namespace.svc.domain)`);
  const [role, ip, podNs, dnsDomain] = parts as [string, string, string, string];
  if (role !== 'sidecar' && role !== 'router') throw new NodeIdError(`node id "${id}": role must be "sidecar" or "router", got "${role}"`);
  const dot = podNs.lastIndexOf('.');
  if (dot <= 0) throw new NodeIdError(`node id "${id}": third part must be "pod.namespace", got "${podNs}"`);
  const podName = podNs.slice(0, dot);
  const namespace = podNs.slice(dot + 1);
  const svcMarker = `${namespace}.svc.`;
  const domainSuffix = dnsDomain.startsWith(svcMarker) ? dnsDomain.slice(svcMarker.length) : DEFAULT_DOMAIN_SUFFIX;
  return { role, ips: [ip], podName, namespace, domainSuffix };
}

/** The SPIFFE identity a proxy's workload certificate carries. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
