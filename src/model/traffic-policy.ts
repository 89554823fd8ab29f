// DestinationRule selection and Istio's merge rules (pilot/pkg/networking/core cluster_traffic_policy.go,
// model.MergeTrafficPolicy): a port-level entry replaces the destination-level policy for its port —
// fields it omits take defaults, they are not inherited —, and a subset's policy overrides the
// destination's field by field, then its own port-level entry replaces all four again.
import type { ConfigSnapshot, DestinationRule, PortTrafficPolicy, Subset, TrafficPolicy } from '../config/types.js';
import type { ProxyNode } from '../envoy/node.js';
import { hostMatches, hostSubsetOf } from '../config/hosts.js';
import { byString, labelsMatch } from './labels.js';
import { isExportedTo } from './services.js';
import { pushContext, type HostIndexed } from './push-context.js';

/** The four per-cluster settings after merging; undefined fields take Istio's defaults. */
export type EffectivePolicy = Pick<TrafficPolicy, 'loadBalancer' | 'connectionPool' | 'outlierDetection' | 'tls'>;

export interface SelectedDestinationRule {
  rule: DestinationRule;
  /** Istio only lets a sidecar use `credentialName` from a DestinationRule with a workloadSelector. */
  hasWorkloadSelector: boolean;
}

/**
 * Istio's DestinationRule lookup for a host as seen from a proxy: a rule in the proxy's namespace,
 * then in the service's namespace, then in the root namespace; within one namespace an exact host
 * beats a wildcard and the most specific wildcard wins. Rules with a workloadSelector apply only to
 * matching workloads in their own namespace. One rule wins (meshgate does not merge several rules
 * for the same host, which Istio does only for rules without conflicting fields).
 */
export function selectDestinationRule(
  snapshot: ConfigSnapshot,
  node: ProxyNode,
  hostname: string,
  serviceNamespace: string,
): SelectedDestinationRule | undefined {
  const push = pushContext(snapshot);
  const candidates = push.destinationRules.candidates(hostname);
  // Without a workloadSelector among the candidates the answer depends on the proxy's namespace alone,
  // and every proxy of a namespace asks it for every service: computed once per snapshot.
  if (candidates.some((c) => c.object.spec.workloadSelector)) return selectAmong(snapshot, node, hostname, serviceNamespace, candidates);
  return push.memo(`dr|${node.namespace}|${serviceNamespace}|${hostname}`, () =>
    selectAmong(snapshot, node, hostname, serviceNamespace, candidates),
  );
}

function selectAmong(
  snapshot: ConfigSnapshot,
  node: ProxyNode,
  hostname: string,
  serviceNamespace: string,
  candidates: readonly HostIndexed<DestinationRule>[],
): SelectedDestinationRule | undefined {
  let best: { rule: DestinationRule; rank: [number, number, number, string] } | undefined;
  const nsOrder = [node.namespace, serviceNamespace, snapshot.meshConfig.rootNamespace];
  for (const { object: dr, hosts } of candidates) {
    const host = hosts[0] as string;
    if (!hostMatches(host, hostname) || !hostSubsetOf(hostname, host)) continue;
    if (dr.spec.workloadSelector) {
      if (dr.metadata.namespace !== node.namespace || !labelsMatch(dr.spec.workloadSelector.matchLabels, node.labels)) continue;
    } else if (!isExportedTo(dr.spec.exportTo, dr.metadata.namespace, node.namespace)) continue;
    const nsRank = nsOrder.indexOf(dr.metadata.namespace);
    const rank: [number, number, number, string] = [
      nsRank < 0 ? nsOrder.length : nsRank,
      dr.spec.workloadSelector ? 0 : 1,
      host.startsWith('*') ? 1e6 - host.length : 0,
      dr.metadata.name,
    ];
    if (!best || compareRank(rank, best.rank) < 0) best = { rule: dr, rank };
  }
  if (!best) return undefined;
  return { rule: best.rule, hasWorkloadSelector: best.rule.spec.workloadSelector !== undefined };
}

function compareRank(a: [number, number, number, string], b: [number, number, number, string]): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || byString(a[3], b[3]);
}

function portEntry(policy: TrafficPolicy | undefined, port: number): PortTrafficPolicy | undefined {
  return policy?.portLevelSettings?.find((p) => p.port?.number === port);
}

function fromPortEntry(p: PortTrafficPolicy): EffectivePolicy {
  const out: EffectivePolicy = {};
  if (p.loadBalancer) out.loadBalancer = p.loadBalancer;
  if (p.connectionPool) out.connectionPool = p.connectionPool;
  if (p.outlierDetection) out.outlierDetection = p.outlierDetection;
  if (p.tls) out.tls = p.tls;
  return out;
}

function topLevel(policy: TrafficPolicy | undefined): EffectivePolicy {
  const out: EffectivePolicy = {};
  if (policy?.loadBalancer) out.loadBalancer = policy.loadBalancer;
  if (policy?.connectionPool) out.connectionPool = policy.connectionPool;
  if (policy?.outlierDetection) out.outlierDetection = policy.outlierDetection;
  if (policy?.tls) out.tls = policy.tls;
  return out;
}

/** The destination-level policy for one port: its port-level entry if there is one (replacing), else the top level. */
export function policyForPort(policy: TrafficPolicy | undefined, port: number): EffectivePolicy {
  const p = portEntry(policy, port);
  return p ? fromPortEntry(p) : topLevel(policy);
}

/** The policy for a cluster: destination (port-merged), then the subset's fields, then the subset's own port entry. */
export function effectivePolicy(rule: DestinationRule | undefined, port: number, subset?: Subset): EffectivePolicy {
  const base = policyForPort(rule?.spec.trafficPolicy, port);
  const sp = subset?.trafficPolicy;
  if (!sp) return base;
  const merged: EffectivePolicy = { ...base, ...topLevel(sp) };
  const p = portEntry(sp, port);
  return p ? fromPortEntry(p) : merged;
}
