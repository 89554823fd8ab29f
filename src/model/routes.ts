// VirtualService tcp and tls routes (Istio's networkfilter.go / buildOutboundNetworkFilters): which
// VirtualServices apply to a host from a given gateway ("mesh" for sidecars), which route matches,
// and the tcp_proxy filter that sends the connection to the route's weighted destinations.
import type { L4MatchAttributes, RouteDestination, TLSRoute, VirtualService } from '../config/types.js';
import type { Filter, TcpProxy } from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import { hostMatches, resolveShortHost } from '../config/hosts.js';
import { BLACKHOLE_CLUSTER, outboundClusterName, type ModelContext } from './context.js';
import { byString, labelsMatch } from './labels.js';
import { toProtoDuration } from './duration.js';
import { findService, isExportedTo } from './services.js';
import type { HostIndexed } from './push-context.js';
import { effectivePolicy, selectDestinationRule } from './traffic-policy.js';

export const MESH_GATEWAY = 'mesh';

/** A VirtualService's gateway references, resolved to `namespace/name` (or `mesh`); none means `mesh`. */
export function resolveGatewayRefs(refs: readonly string[] | undefined, vsNamespace: string): string[] {
  if (!refs || refs.length === 0) return [MESH_GATEWAY];
  return refs.map((g) => (g === MESH_GATEWAY || g.includes('/') ? g : `${vsNamespace}/${g}`));
}

/** VirtualServices visible to the proxy, bound to `gateway`, with a host that matches `host`; oldest (by namespace/name) first. */
export function virtualServicesFor(ctx: ModelContext, gateway: string, hostMatchesVs: (vsHost: string) => boolean): VirtualService[] {
  return selectVirtualServices(ctx, ctx.push.virtualServices.all, gateway, hostMatchesVs);
}

function selectVirtualServices(
  ctx: ModelContext,
  entries: readonly HostIndexed<VirtualService>[],
  gateway: string,
  hostMatchesVs: (vsHost: string) => boolean,
): VirtualService[] {
  const out: VirtualService[] = [];
  for (const { object: vs, hosts } of entries) {
    if (!isExportedTo(vs.spec.exportTo, vs.metadata.namespace, ctx.node.namespace)) continue;
    if (!resolveGatewayRefs(vs.spec.gateways, vs.metadata.namespace).includes(gateway)) continue;
    if (hosts.some(hostMatchesVs)) out.push(vs);
  }
  return out.sort((a, b) => byString(`${a.metadata.namespace}/${a.metadata.name}`, `${b.metadata.namespace}/${b.metadata.name}`));
}

export function virtualServicesForHost(ctx: ModelContext, gateway: string, host: string): VirtualService[] {
  return selectVirtualServices(ctx, ctx.push.virtualServices.candidates(host), gateway, (h) => hostMatches(h, host));
}

/**
 * Istio's L4 match: `gateways` (else the VirtualService's own), `port`, `sourceLabels` and
 * `sourceNamespace` of the proxy itself. `destinationSubnets` needs per-address filter chains that
 * meshgate does not build: a match that names subnets never matches.
 */
export function l4MatchApplies(
  ctx: ModelContext,
  vs: VirtualService,
  m: L4MatchAttributes | undefined,
  gateway: string,
  port: number,
): boolean {
  if (!m) return true;
  const gws =
    m.gateways && m.gateways.length > 0
      ? resolveGatewayRefs(m.gateways, vs.metadata.namespace)
      : resolveGatewayRefs(vs.spec.gateways, vs.metadata.namespace);
  if (!gws.includes(gateway)) return false;
  if (m.port !== undefined && m.port !== port) return false;
  if (m.sourceLabels && !labelsMatch(m.sourceLabels, ctx.node.labels)) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== ctx.node.namespace) return false;
  if (m.destinationSubnets && m.destinationSubnets.length > 0) return false;
  return true;
}

function anyMatch(
  ctx: ModelContext,
  vs: VirtualService,
  matches: readonly L4MatchAttributes[] | undefined,
  gateway: string,
  port: number,
): boolean {
  if (!matches || matches.length === 0) return resolveGatewayRefs(vs.spec.gateways, vs.metadata.namespace).includes(gateway);
  return matches.some((m) => l4MatchApplies(ctx, vs, m, gateway, port));
}

export interface RouteTarget {
  clusters: { name: string; weight: number }[];
  /** `namespace/name` of the VirtualService that chose this, when one did. */
  virtualService?: string;
  /** Destinations that name no known service, routed to BlackHoleCluster. */
  unknownHosts?: string[];
}

/** The cluster names for a route's destinations; a destination without a port takes the only port of its service, else the listener's. */
export function routeTarget(ctx: ModelContext, vs: VirtualService, route: readonly RouteDestination[], listenerPort: number): RouteTarget {
  const clusters: { name: string; weight: number }[] = [];
  const unknownHosts: string[] = [];
  const dests = route.length === 1 ? route : route.filter((d) => (d.weight ?? 0) > 0);
  for (const d of dests) {
    const host = resolveShortHost(d.destination.host, vs.metadata.namespace, ctx.domainSuffix);
    const svc = findService(ctx.registry, host);
    if (!svc) {
      unknownHosts.push(host);
      clusters.push({ name: BLACKHOLE_CLUSTER, weight: d.weight ?? 100 });
      continue;
    }
    const port = d.destination.port?.number ?? (svc.ports.length === 1 ? (svc.ports[0]?.port as number) : listenerPort);
    clusters.push({ name: outboundClusterName(port, d.destination.subset, host), weight: route.length === 1 ? 100 : (d.weight ?? 0) });
  }
  return { clusters, virtualService: `${vs.metadata.namespace}/${vs.metadata.name}`, ...(unknownHosts.length > 0 ? { unknownHosts } : {}) };
}

/** The first tcp route of the first matching VirtualService, or undefined when none applies. */
export function selectTcpRoute(ctx: ModelContext, vss: readonly VirtualService[], gateway: string, port: number): RouteTarget | undefined {
  for (const vs of vss) {
    for (const r of vs.spec.tcp ?? []) {
      if (!r.route || r.route.length === 0) continue;
      if (anyMatch(ctx, vs, r.match, gateway, port)) return routeTarget(ctx, vs, r.route, port);
    }
  }
  return undefined;
}

export interface TlsRouteChain {
  serverNames: string[];
  target: RouteTarget;
}

/** tls routes: one chain per matching route, keyed by its matches' sniHosts (narrowed by `allowSni`). */
export function selectTlsRoutes(
  ctx: ModelContext,
  vss: readonly VirtualService[],
  gateway: string,
  port: number,
  allowSni: (sni: string) => boolean,
): TlsRouteChain[] {
  const out: TlsRouteChain[] = [];
  const taken = new Set<string>();
  for (const vs of vss) {
    for (const r of vs.spec.tls ?? ([] as TLSRoute[])) {
      if (!r.route || r.route.length === 0) continue;
      const names: string[] = [];
      for (const m of r.match) {
        if (!l4MatchApplies(ctx, vs, m, gateway, port)) continue;
        for (const sni of m.sniHosts) {
          const full = resolveShortHost(sni, vs.metadata.namespace, ctx.domainSuffix);
          if (allowSni(full) && !taken.has(full)) {
            taken.add(full);
            names.push(full);
          }
        }
      }
      if (names.length > 0) out.push({ serverNames: names.sort(byString), target: routeTarget(ctx, vs, r.route, port) });
    }
  }
  return out;
}

export function directTarget(cluster: string): RouteTarget {
  return { clusters: [{ name: cluster, weight: 100 }] };
}

/**
 * `connectionPool.tcp.idleTimeout` of the destination's DestinationRule, which Istio applies to the
 * tcp_proxy in front of a single destination (weighted routes keep Envoy's default of one hour).
 */
export function destinationIdleTimeout(ctx: ModelContext, target: RouteTarget): string | undefined {
  if (target.clusters.length !== 1) return undefined;
  const parts = (target.clusters[0]?.name ?? '').split('|');
  if (parts.length !== 4 || parts[0] !== 'outbound') return undefined;
  const [, port, subsetName, host] = parts as [string, string, string, string];
  const svc = findService(ctx.registry, host);
  if (!svc) return undefined;
  const dr = selectDestinationRule(ctx.snapshot, ctx.node, host, svc.namespace);
  const subset = subsetName ? dr?.rule.spec.subsets?.find((s) => s.name === subsetName) : undefined;
  const idle = effectivePolicy(dr?.rule, Number(port), subset).connectionPool?.tcp?.idleTimeout;
  return idle ? toProtoDuration(idle) : undefined;
}

/** envoy.filters.network.tcp_proxy toward one cluster or weighted clusters. */
export function tcpProxyFilter(target: RouteTarget, idleTimeout?: string): Filter {
  const first = target.clusters[0]?.name ?? BLACKHOLE_CLUSTER;
  const cfg: TcpProxy =
    target.clusters.length <= 1
      ? { statPrefix: first, cluster: first }
      : { statPrefix: first, weightedClusters: { clusters: target.clusters.map((c) => ({ ...c })) } };
  if (idleTimeout) cfg.idleTimeout = idleTimeout;
  return { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TypeUrl.TcpProxy, ...cfg } };
}
