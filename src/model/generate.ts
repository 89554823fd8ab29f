// The model's entry point: a config snapshot and the proxy asking → every Envoy v3 resource that proxy
// gets (Istio's ConfigGenerator: BuildListeners, BuildClusters, BuildEndpoints, secrets). Pure: no I/O,
// no clocks, and the same input always yields the same output in the same order.
import type { ConfigSnapshot } from '../config/types.js';
import type { Cluster, ClusterLoadAssignment, Listener, ProxyResources } from '../xds/envoy-types.js';
import type { ProxyNode } from '../xds/node.js';
import { blackHoleCluster, buildOutboundClusters, inboundPassthroughCluster, passthroughCluster } from './clusters.js';
import { buildContext } from './context.js';
import { buildGatewayListeners } from './gateway-listeners.js';
import { buildInbound } from './inbound-listeners.js';
import { byString } from './labels.js';
import { buildOutboundListeners } from './outbound-listeners.js';
import { buildGatewaySecrets, referencedSecretNames } from './secrets.js';
import { pushContext } from './push-context.js';
import { sidecarScopeFor } from './sidecar-scope.js';

function byName<T extends { name: string }>(list: T[]): T[] {
  return list.sort((a, b) => byString(a.name, b.name));
}

export function generateProxyResources(snapshot: ConfigSnapshot, node: ProxyNode): ProxyResources {
  const ctx = buildContext(snapshot, node);
  const outbound = buildOutboundClusters(ctx);
  const clusters: Cluster[] = outbound.map((b) => b.cluster);
  const endpoints: ClusterLoadAssignment[] = outbound.flatMap((b) => (b.assignment ? [b.assignment] : []));
  const listeners: Listener[] = [];
  clusters.push(blackHoleCluster());
  if (ctx.isRouter) {
    listeners.push(...buildGatewayListeners(ctx).listeners);
  } else {
    clusters.push(passthroughCluster(), inboundPassthroughCluster());
    listeners.push(...buildOutboundListeners(ctx).listeners);
    const inbound = buildInbound(ctx);
    listeners.push(...inbound.listeners);
    clusters.push(...inbound.clusters);
  }
  const secrets = buildGatewaySecrets(snapshot, node, referencedSecretNames({ listeners, clusters }));
  return {
    listeners: byName(listeners),
    clusters: byName(clusters),
    endpoints: endpoints.sort((a, b) => byString(a.clusterName, b.clusterName)),
    secrets,
  };
}

/**
 * The parts of a proxy that its generated resources depend on, as one string: two proxies with the same
 * key get equal `generateProxyResources` and `buildNameTable` output from the same snapshot, so a control
 * plane generates once per key (Istio's per-proxy-shape caching). Left out on purpose: the node id and
 * pod name (only the pod's declared ports are read), the cluster id and proxy version (never read), and
 * the proxy's addresses wherever the model does not bind to them — with traffic capture, a sidecar's
 * listeners bind to 0.0.0.0 and the virtual listeners' ports, whatever its pod IP.
 */
export function proxyShapeKey(snapshot: ConfigSnapshot, node: ProxyNode): string {
  const pod = pushContext(snapshot).pod(node.namespace, node.podName);
  const scope = sidecarScopeFor(snapshot, node);
  const usesAddress = node.role === 'router' || node.interceptionMode === 'NONE' || scope.ingress.some((i) => i.endpoint?.address === '0.0.0.0');
  return JSON.stringify([
    node.role,
    node.namespace,
    node.serviceAccount,
    Object.entries(node.labels).sort((a, b) => byString(a[0], b[0])),
    node.interceptionMode ?? '',
    [...(node.workloadPorts ?? [])].sort((a, b) => a - b),
    usesAddress ? node.ips : [],
    pod ? (pod.spec.containers ?? []).map((c) => (c.ports ?? []).map((p) => [p.name ?? '', p.containerPort])) : null,
  ]);
}
