// ProxyNode ⇄ Envoy's `config.core.v3.Node` (canonical JSON), with the metadata keys pilot-agent sets
// (NAMESPACE, SERVICE_ACCOUNT, LABELS, CLUSTER_ID, INSTANCE_IPS comma-separated, INTERCEPTION_MODE, NAME,
// ISTIO_VERSION, DNS_DOMAIN, POD_PORTS as a JSON string) so that istiod and meshgate read each other's nodes.
import { DEFAULT_DOMAIN_SUFFIX, parseNodeId, type ProxyNode } from '../envoy/node.js';

/** envoy.config.core.v3.Node in canonical JSON, the fields meshgate sets. */
export interface NodeMessage {
  id: string;
  cluster?: string;
  metadata?: Record<string, unknown>;
  userAgentName?: string;
  userAgentVersion?: string;
  locality?: { region?: string; zone?: string; subZone?: string };
}

export class NodeMessageError extends Error {
  readonly code = 'E_XDS_NODE';
}

export const USER_AGENT = 'meshgate';

export function proxyNodeToMessage(node: ProxyNode): NodeMessage {
  const metadata: Record<string, unknown> = {
    NAME: node.podName,
    NAMESPACE: node.namespace,
    SERVICE_ACCOUNT: node.serviceAccount,
    LABELS: { ...node.labels },
    CLUSTER_ID: node.clusterId,
    INSTANCE_IPS: node.ips.join(','),
    DNS_DOMAIN: node.domainSuffix,
  };
  if (node.interceptionMode) metadata.INTERCEPTION_MODE = node.interceptionMode;
  if (node.version) metadata.ISTIO_VERSION = node.version;
  // Istio sends the pod's container ports as a JSON string.
  if (node.workloadPorts)
    metadata.POD_PORTS = JSON.stringify(node.workloadPorts.map((containerPort) => ({ containerPort, protocol: 'TCP' })));
  const msg: NodeMessage = {
    id: node.id,
    // Istio's service cluster: `<app label or workload>.<namespace>`.
    cluster: `${node.labels.app ?? node.labels['app.kubernetes.io/name'] ?? node.podName}.${node.namespace}`,
    metadata,
    userAgentName: USER_AGENT,
  };
  if (node.version) msg.userAgentVersion = node.version;
  return msg;
}

function str(meta: Record<string, unknown>, key: string, id: string): string | undefined {
  const v = meta[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new NodeMessageError(`node "${id}": metadata ${key} must be a string, got ${typeof v}`);
  return v;
}

/** Reads the proxy's identity claims from a Node; the node id's namespace must agree with NAMESPACE. */
export function proxyNodeFromMessage(msg: NodeMessage): ProxyNode {
  if (!msg.id) throw new NodeMessageError('the first discovery request on a stream must carry node.id');
  const fromId = parseNodeId(msg.id);
  const meta = msg.metadata ?? {};
  const namespace = str(meta, 'NAMESPACE', msg.id) ?? fromId.namespace;
  if (namespace !== fromId.namespace)
    throw new NodeMessageError(
      `node "${msg.id}": metadata NAMESPACE "${namespace}" disagrees with the node id's namespace "${fromId.namespace}"`,
    );
  const labelsRaw = meta.LABELS ?? {};
  if (typeof labelsRaw !== 'object' || labelsRaw === null || Array.isArray(labelsRaw))
    throw new NodeMessageError(`node "${msg.id}": metadata LABELS must be an object`);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(labelsRaw)) {
    if (typeof v !== 'string') throw new NodeMessageError(`node "${msg.id}": label ${k} must be a string`);
    labels[k] = v;
  }
  const ipsRaw = str(meta, 'INSTANCE_IPS', msg.id);
  const mode = str(meta, 'INTERCEPTION_MODE', msg.id);
  if (mode !== undefined && mode !== 'REDIRECT' && mode !== 'NONE')
    throw new NodeMessageError(`node "${msg.id}": INTERCEPTION_MODE "${mode}" is not supported (REDIRECT or NONE)`);
  const node: ProxyNode = {
    id: msg.id,
    role: fromId.role,
    ips: ipsRaw
      ? ipsRaw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : fromId.ips,
    podName: str(meta, 'NAME', msg.id) ?? fromId.podName,
    namespace,
    serviceAccount: str(meta, 'SERVICE_ACCOUNT', msg.id) ?? 'default',
    labels,
    clusterId: str(meta, 'CLUSTER_ID', msg.id) ?? 'Kubernetes',
    domainSuffix: str(meta, 'DNS_DOMAIN', msg.id) ?? fromId.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX,
  };
  if (mode) node.interceptionMode = mode;
  const version = str(meta, 'ISTIO_VERSION', msg.id) ?? msg.userAgentVersion;
  if (version) node.version = version;
  const podPorts = str(meta, 'POD_PORTS', msg.id);
  if (podPorts) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(podPorts);
    } catch (err) {
      throw new NodeMessageError(`node "${msg.id}": POD_PORTS is not JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new NodeMessageError(`node "${msg.id}": POD_PORTS must be a JSON array`);
    node.workloadPorts = parsed.map((p: { containerPort?: unknown }) => {
      if (typeof p?.containerPort !== 'number')
        throw new NodeMessageError(`node "${msg.id}": POD_PORTS entries need a numeric containerPort`);
      return p.containerPort;
    });
  }
  return node;
}
