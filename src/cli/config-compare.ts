// What `proxy-status POD` compares, as istioctl's proxy-status does for one pod: per xDS type, what the
// control plane is serving that proxy (its /debug/config_dump?proxyID=) against what the proxy holds
// (its admin /config_dump). The control plane's side goes through the same protobuf round trip the
// proxy's did (canonicalResource), so only real differences show. Secrets are compared by name only:
// their contents are key material and never printed.
import { canonicalResource } from '../xds/codec.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import { unifiedDiff } from './unified-diff.js';

type Json = Record<string, unknown>;

/** The control plane's /debug/config_dump?proxyID= answer: resources by short type name. */
export interface ControlPlaneDump {
  version?: string;
  resources: Partial<Record<'cds' | 'lds' | 'eds' | 'sds' | 'nds', Json[]>>;
}

/** The proxy's admin /config_dump (Envoy's shape). */
export interface ProxyDump {
  configs: Json[];
}

export interface TypeComparison {
  /** istioctl's words: Clusters, Listeners, Endpoints; plus Secrets (names). */
  type: 'Clusters' | 'Listeners' | 'Endpoints' | 'Secrets';
  match: boolean;
  /** A unified diff (control plane first), empty when they match. */
  diff: string;
}

function section(dump: ProxyDump, suffix: string): Json {
  return dump.configs.find((c) => String(c['@type']).endsWith(suffix)) ?? {};
}

function withoutType(r: Json): Json {
  const { '@type': _t, ...rest } = r;
  return rest;
}

function canonical(typeUrl: string, r: Json): Json {
  try {
    return canonicalResource(typeUrl, withoutType(r));
  } catch {
    // A resource the codec refuses would have been refused by the proxy too: compare it as sent.
    return withoutType(r);
  }
}

/** JSON with keys sorted at every level, so the same content always prints the same lines. */
function stableJson(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort);
    if (x !== null && typeof x === 'object')
      return Object.fromEntries(
        Object.keys(x as Json)
          .sort()
          .map((k) => [k, sort((x as Json)[k])]),
      );
    return x;
  };
  return `${JSON.stringify(sort(v), null, 2)}\n`;
}

function byName(key: string): (a: Json, b: Json) => number {
  return (a, b) => String(a[key]).localeCompare(String(b[key]));
}

function compare(type: TypeComparison['type'], sent: Json[], held: Json[], key: string): TypeComparison {
  const a = stableJson([...sent].sort(byName(key)));
  const b = stableJson([...held].sort(byName(key)));
  return { type, match: a === b, diff: unifiedDiff(a, b, `Control plane ${type}`, `Proxy ${type}`) };
}

export function compareProxyConfig(cp: ControlPlaneDump, proxy: ProxyDump): TypeComparison[] {
  const clusters = ((section(proxy, 'ClustersConfigDump').dynamicActiveClusters ?? []) as { cluster: Json }[]).map((c) =>
    withoutType(c.cluster),
  );
  const listeners = ((section(proxy, 'ListenersConfigDump').dynamicListeners ?? []) as { activeState?: { listener: Json } }[]).flatMap(
    (l) => (l.activeState ? [withoutType(l.activeState.listener)] : []),
  );
  const endpoints = ((section(proxy, 'EndpointsConfigDump').dynamicEndpointConfigs ?? []) as { endpointConfig: Json }[]).map((e) =>
    withoutType(e.endpointConfig),
  );
  // The agent's own secrets (workload certificate, mesh root) are marked "local": the control plane never sends them.
  const secrets = ((section(proxy, 'SecretsConfigDump').dynamicActiveSecrets ?? []) as { name: string; versionInfo?: string }[])
    .filter((s) => s.versionInfo !== 'local')
    .map((s) => ({ name: s.name }));
  return [
    compare(
      'Clusters',
      (cp.resources.cds ?? []).map((r) => canonical(TypeUrl.Cluster, r)),
      clusters,
      'name',
    ),
    compare(
      'Listeners',
      (cp.resources.lds ?? []).map((r) => canonical(TypeUrl.Listener, r)),
      listeners,
      'name',
    ),
    compare(
      'Endpoints',
      (cp.resources.eds ?? []).map((r) => canonical(TypeUrl.ClusterLoadAssignment, r)),
      endpoints,
      'clusterName',
    ),
    compare(
      'Secrets',
      (cp.resources.sds ?? []).map((r) => ({ name: String(r.name) })),
      secrets,
      'name',
    ),
  ];
}

/** istioctl's report: "Clusters Match", or "Listeners Don't Match" followed by the diff. */
export function formatComparison(results: readonly TypeComparison[]): string {
  return results.map((r) => (r.match ? `${r.type} Match\n` : `${r.type} Don't Match\n${r.diff}`)).join('');
}
