// What resources refer to: the clusters a listener's tcp_proxy routes to, the EDS names clusters need,
// the SDS secrets listeners and clusters need. The snapshot cache checks consistency with these, and
// the proxy uses them to keep its EDS and SDS subscriptions following its clusters and listeners.
import { TypeUrl } from './envoy-types.js';
import { NameTableTypeUrl } from './name-table.js';

/** Secrets a proxy's own agent serves (its workload certificate and the mesh root), never the control plane. */
export const PROXY_LOCAL_SECRETS: ReadonlySet<string> = new Set(['default', 'ROOTCA']);

/** The name a resource carries inside itself (what Envoy keys it by). */
export function resourceName(typeUrl: string, json: object): string | undefined {
  const r = json as { name?: unknown; clusterName?: unknown };
  if (typeUrl === TypeUrl.ClusterLoadAssignment) return typeof r.clusterName === 'string' ? r.clusterName : undefined;
  if (typeUrl === NameTableTypeUrl) return '';
  return typeof r.name === 'string' ? r.name : undefined;
}

export type AnyJson = { '@type'?: string } & Record<string, unknown>;

function sdsNames(transportSocket: unknown): string[] {
  const ts = transportSocket as { typedConfig?: AnyJson } | undefined;
  const ctx = ts?.typedConfig?.commonTlsContext as Record<string, unknown> | undefined;
  if (!ctx) return [];
  const names: string[] = [];
  for (const c of (ctx.tlsCertificateSdsSecretConfigs ?? []) as { name: string }[]) names.push(c.name);
  const v = ctx.validationContextSdsSecretConfig as { name: string } | undefined;
  if (v) names.push(v.name);
  const combined = ctx.combinedValidationContext as { validationContextSdsSecretConfig?: { name: string } } | undefined;
  if (combined?.validationContextSdsSecretConfig) names.push(combined.validationContextSdsSecretConfig.name);
  return names;
}

export function tcpProxyClusters(filter: { typedConfig?: AnyJson }): string[] {
  const cfg = filter.typedConfig;
  if (!cfg || cfg['@type'] !== TypeUrl.TcpProxy) return [];
  const out: string[] = [];
  if (typeof cfg.cluster === 'string') out.push(cfg.cluster);
  const weighted = cfg.weightedClusters as { clusters?: { name: string }[] } | undefined;
  for (const w of weighted?.clusters ?? []) out.push(w.name);
  return out;
}

/** The SDS names a listener or cluster needs from the control plane (proxy-local ones excluded). */
export function referencedSecrets(typeUrl: string, json: object): string[] {
  const names: string[] = [];
  if (typeUrl === TypeUrl.Listener) {
    const l = json as { filterChains?: { transportSocket?: unknown }[]; defaultFilterChain?: { transportSocket?: unknown } };
    for (const fc of [...(l.filterChains ?? []), ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])])
      names.push(...sdsNames(fc.transportSocket));
  } else if (typeUrl === TypeUrl.Cluster) {
    const c = json as { transportSocket?: unknown; transportSocketMatches?: { transportSocket?: unknown }[] };
    names.push(...sdsNames(c.transportSocket));
    for (const m of c.transportSocketMatches ?? []) names.push(...sdsNames(m.transportSocket));
  }
  return [...new Set(names)].filter((n) => !PROXY_LOCAL_SECRETS.has(n));
}

/** The EDS names clusters need: `edsClusterConfig.serviceName`, or the cluster's name. */
export function edsNamesOf(clusters: Iterable<object>): string[] {
  const out: string[] = [];
  for (const c of clusters) {
    const cl = c as { name: string; type?: string; edsClusterConfig?: { serviceName?: string } };
    if (cl.type === 'EDS') out.push(cl.edsClusterConfig?.serviceName || cl.name);
  }
  return out;
}
