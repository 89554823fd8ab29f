// The model's entry point: a config snapshot and the proxy asking → every Envoy v3 resource that proxy
// gets (Istio's ConfigGenerator: BuildListeners, BuildClusters, BuildEndpoints, secrets). Pure: no I/O,
// no clocks, and the same input always yields the same output in the same order.
import type { ConfigSnapshot } from '../config/types.js';
import type { Cluster, ClusterLoadAssignment, Listener, ProxyResources } from '../envoy/envoy-types.js';
import type { ProxyNode } from '../envoy/node.js';
import { blackHoleCluster, buildOutboundClusters, buildSniDnatCluster, inboundPassthroughCluster, passthroughCluster } from './clusters.js';
import { buildContext } from './context.js';
import { buildGatewayListeners } from './gateway-listeners.js';
import type { ModelOptions } from './gateway-identity.js';
import { buildInbound } from './inbound-listeners.js';
import { byString, labelsMatch } from './labels.js';
import { buildOutboundListeners } from './outbound-listeners.js';
import { buildGatewaySecrets, referencedSecretNames } from './secrets.js';
import { pushContext } from './push-context.js';
import { sidecarScopeFor } from './sidecar-scope.js';

function byName<T extends { name: string }>(list: T[]): T[] {
  return list.sort((a, b) => byString(a.name, b.name));
}

/** `opts` are the control plane's own settings (which service accounts may hold gateway credentials). */
export function generateProxyResources(snapshot: ConfigSnapshot, node: ProxyNode, opts: ModelOptions = {}): ProxyResources {
  const ctx = buildContext(snapshot, node, opts);
  const outbound = buildOutboundClusters(ctx);
  const clusters: Cluster[] = outbound.map((b) => b.cluster);
  const endpoints: ClusterLoadAssignment[] = outbound.flatMap((b) => (b.assignment ? [b.assignment] : []));
  const listeners: Listener[] = [];
  clusters.push(blackHoleCluster());
  if (ctx.isRouter) {
    const gw = buildGatewayListeners(ctx);
    listeners.push(...gw.listeners);
    for (const d of gw.sniDnat) {
      const b = buildSniDnatCluster(ctx, d.svc, d.port, d.subset);
      clusters.push(b.cluster);
      if (b.assignment) endpoints.push(b.assignment);
    }
  } else {
    clusters.push(passthroughCluster(), inboundPassthroughCluster(ctx.node.ips[0] ?? '127.0.0.1'));
    listeners.push(...buildOutboundListeners(ctx).listeners);
    const inbound = buildInbound(ctx);
    listeners.push(...inbound.listeners);
    clusters.push(...inbound.clusters);
  }
  // Builders name a `kubernetes://` secret only when this gateway may hold it, so every name is served.
  const secrets = ctx.mayHoldCredentials ? buildGatewaySecrets(snapshot, node, referencedSecretNames({ listeners, clusters })) : [];
  return {
    listeners: byName(listeners),
    clusters: byName(clusters),
    endpoints: endpoints.sort((a, b) => byString(a.clusterName, b.clusterName)),
    secrets,
  };
}

/** A config object that selects workloads by label, and where (undefined: any namespace). */
interface LabelSelector {
  id: string;
  namespace: string | undefined;
  selector: Readonly<Record<string, string>>;
}

/**
 * Every selector in the snapshot that the model compares a sidecar's own labels with: Sidecars,
 * DestinationRules with a workloadSelector, Services and ServiceEntries selecting workloads (inbound
 * ports), PeerAuthentications and AuthorizationPolicies with a selector, and VirtualService L4 matches
 * on sourceLabels.
 */
function labelSelectors(snapshot: ConfigSnapshot): LabelSelector[] {
  const out: LabelSelector[] = [];
  const add = (id: string, namespace: string | undefined, selector: Readonly<Record<string, string>> | undefined): void => {
    if (selector && Object.keys(selector).length > 0) out.push({ id, namespace, selector });
  };
  for (const s of snapshot.sidecars) {
    const ws = s.spec.workloadSelector as { labels?: Record<string, string>; matchLabels?: Record<string, string> } | undefined;
    add(`Sidecar/${s.metadata.namespace}/${s.metadata.name}`, s.metadata.namespace, ws?.labels ?? ws?.matchLabels);
  }
  for (const dr of snapshot.destinationRules)
    add(`DestinationRule/${dr.metadata.namespace}/${dr.metadata.name}`, dr.metadata.namespace, dr.spec.workloadSelector?.matchLabels);
  for (const svc of pushContext(snapshot).registry) add(`service/${svc.namespace}/${svc.hostname}`, svc.namespace, svc.selector);
  for (const pa of snapshot.peerAuthentications)
    add(`PeerAuthentication/${pa.metadata.namespace}/${pa.metadata.name}`, pa.metadata.namespace, pa.spec.selector?.matchLabels);
  // An AuthorizationPolicy in the root namespace selects workloads in every namespace.
  const root = snapshot.meshConfig.rootNamespace;
  for (const ap of snapshot.authorizationPolicies)
    add(
      `AuthorizationPolicy/${ap.metadata.namespace}/${ap.metadata.name}`,
      ap.metadata.namespace === root ? undefined : ap.metadata.namespace,
      ap.spec.selector?.matchLabels,
    );
  for (const vs of snapshot.virtualServices) {
    const routes = [...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])];
    routes.forEach((r, ri) =>
      (r.match ?? []).forEach((m, mi) =>
        add(`VirtualService/${vs.metadata.namespace}/${vs.metadata.name}#${ri}.${mi}`, undefined, m.sourceLabels),
      ),
    );
  }
  return out;
}

/**
 * What a sidecar's labels decide: the selectors (see labelSelectors) that match them. Two sidecars in
 * one namespace whose labels match the same selectors get the same resources, whatever else their
 * labels say (`app: sim-1` and `app: sim-2` with no config selecting on `app` share one shape).
 */
function labelSignature(snapshot: ConfigSnapshot, node: ProxyNode): string[] {
  const selectors = pushContext(snapshot).memo('label-selectors', () => labelSelectors(snapshot));
  return selectors
    .filter((s) => (s.namespace === undefined || s.namespace === node.namespace) && labelsMatch(s.selector, node.labels))
    .map((s) => s.id);
}

/**
 * The parts of a proxy that its generated resources depend on, as one string: two proxies with the same
 * key get equal `generateProxyResources` and `buildNameTable` output from the same snapshot, so a control
 * plane generates once per key (Istio's per-proxy-shape caching). Left out on purpose: the node id and
 * pod name (only the pod's declared ports are read), the proxy version (never read), the
 * proxy's addresses wherever the model does not bind to them — with traffic capture, a sidecar's
 * listeners bind to 0.0.0.0 and the virtual listeners' ports, whatever its pod IP — and a sidecar's
 * labels beyond which selectors they match. A gateway's key keeps its labels whole (Gateway selectors).
 */
export function proxyShapeKey(snapshot: ConfigSnapshot, node: ProxyNode): string {
  const pod = pushContext(snapshot).pod(node.namespace, node.podName);
  const scope = sidecarScopeFor(snapshot, node);
  const usesAddress =
    node.role === 'router' || node.interceptionMode === 'NONE' || scope.ingress.some((i) => i.endpoint?.address === '0.0.0.0');
  return JSON.stringify([
    node.role,
    node.namespace,
    node.serviceAccount,
    node.role === 'router' ? Object.entries(node.labels).sort((a, b) => byString(a[0], b[0])) : labelSignature(snapshot, node),
    node.interceptionMode ?? '',
    node.clusterId,
    [...(node.workloadPorts ?? [])].sort((a, b) => a - b),
    usesAddress ? node.ips : [],
    pod ? (pod.spec.containers ?? []).map((c) => (c.ports ?? []).map((p) => [p.name ?? '', p.containerPort])) : null,
  ]);
}
