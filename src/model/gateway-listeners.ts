// Gateway listeners (Istio's buildGatewayListeners, L4 part): the `Gateway` servers whose selector
// matches this gateway pod's labels, grouped by port into one listener each; per server a filter chain
// matched by SNI from its `hosts`, TLS terminated as `tls.mode` says (or passed through), and routed by
// the VirtualServices bound to that Gateway: tcp routes after termination, tls routes on passthrough.
import type { Gateway, GatewayServer, Subset, VirtualService } from '../config/types.js';
import type { MeshService, MeshServicePort } from './services.js';
import type { FilterChain, Listener } from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import { hostMatches, resolveShortHost, splitNamespacedHost } from '../config/hosts.js';
import { outboundSni, type ModelContext } from './context.js';
import { byString, labelsMatch } from './labels.js';
import {
  destinationIdleTimeout,
  directTarget,
  resolveGatewayRefs,
  selectTcpRoute,
  selectTlsRoutes,
  tcpProxyFilter,
  type RouteTarget,
} from './routes.js';
import { isExportedTo } from './services.js';
import { credentialAvailability } from './secrets.js';
import { credentialsRefusedReason } from './gateway-identity.js';
import { ALL_ISTIO_MTLS_ALPNS, downstreamTransportSocket, gatewayDownstream } from './tls-context.js';
import { selectDestinationRule } from './traffic-policy.js';

export interface GatewayChainNote {
  listener: string;
  gateway: string;
  server: string;
  mode: string;
  serverNames?: string[];
  target?: RouteTarget;
  /** Why a server produced no chain. */
  skipped?: string;
}

/** Gateways whose selector matches the proxy's labels (in any namespace, as Istio does by default). */
export function gatewaysForProxy(ctx: ModelContext): Gateway[] {
  return ctx.snapshot.gateways
    .filter((g) => g.spec.selector && Object.keys(g.spec.selector).length > 0 && labelsMatch(g.spec.selector, ctx.node.labels))
    .sort((a, b) => byString(`${a.metadata.namespace}/${a.metadata.name}`, `${b.metadata.namespace}/${b.metadata.name}`));
}

/**
 * The port a server's listener binds: a Gateway names the gateway Service's port, and the pod listens
 * on that port's targetPort (Istio maps them since 1.x; the seed patches 13306→13306).
 */
export function gatewayListenPort(ctx: ModelContext, serverPort: number): number {
  for (const svc of ctx.registry) {
    if (svc.registry !== 'Kubernetes' || svc.namespace !== ctx.node.namespace || !svc.selector || Object.keys(svc.selector).length === 0)
      continue;
    if (!labelsMatch(svc.selector, ctx.node.labels)) continue;
    const p = svc.ports.find((sp) => sp.port === serverPort);
    if (p && typeof p.targetPort === 'number') return p.targetPort;
  }
  return serverPort;
}

/** A server's hosts as names (namespace prefix removed), and whether a VirtualService host falls under them. */
function serverHostMatcher(gw: Gateway, server: GatewayServer): { hosts: string[]; allows: (vs: VirtualService, host: string) => boolean } {
  const parsed = server.hosts.map((h) => splitNamespacedHost(h, gw.metadata.namespace));
  return {
    hosts: parsed.map((p) => p.host),
    allows: (vs, host) => parsed.some((p) => (p.namespace === '*' || p.namespace === vs.metadata.namespace) && hostMatches(p.host, host)),
  };
}

function boundVirtualServices(ctx: ModelContext, gwRef: string, allows: (vs: VirtualService, host: string) => boolean): VirtualService[] {
  return ctx.snapshot.virtualServices
    .filter((vs) => isExportedTo(vs.spec.exportTo, vs.metadata.namespace, ctx.node.namespace))
    .filter((vs) => resolveGatewayRefs(vs.spec.gateways, vs.metadata.namespace).includes(gwRef))
    .filter((vs) => (vs.spec.hosts ?? []).some((h) => allows(vs, resolveShortHost(h, vs.metadata.namespace, ctx.domainSuffix))))
    .sort((a, b) => byString(`${a.metadata.namespace}/${a.metadata.name}`, `${b.metadata.namespace}/${b.metadata.name}`));
}

/** SNI names for a terminating server: its hosts, or none (match anything) when one is `*`. */
function sniForServer(hosts: readonly string[]): string[] | undefined {
  if (hosts.some((h) => h === '*')) return undefined;
  return [...new Set(hosts)].sort(byString);
}

/** A service port (and subset) an AUTO_PASSTHROUGH server routes to: it needs its SNI-DNAT cluster. */
export interface SniDnatTarget {
  svc: MeshService;
  port: MeshServicePort;
  subset?: Subset;
}

interface ServerChains {
  chains: FilterChain[];
  notes: GatewayChainNote[];
  tls: boolean;
  sniDnat?: SniDnatTarget[];
}

/**
 * A server's TLS mode as Istio reads it: a `tls` block without `mode` is PASSTHROUGH (the enum's zero
 * value; validation warns when such a block names certificates), no `tls` block is plain TCP.
 */
function serverTlsMode(server: GatewayServer): string {
  return server.tls ? (server.tls.mode ?? 'PASSTHROUGH') : 'NONE';
}

function serverChains(ctx: ModelContext, gw: Gateway, server: GatewayServer, listenerName: string): ServerChains {
  const gwRef = `${gw.metadata.namespace}/${gw.metadata.name}`;
  const serverLabel = server.name ?? server.port.name;
  const protocol = server.port.protocol.toUpperCase();
  const mode = serverTlsMode(server);
  const { hosts, allows } = serverHostMatcher(gw, server);
  const vss = boundVirtualServices(ctx, gwRef, allows);
  const port = server.port.number;
  const note = (extra: Partial<GatewayChainNote>): GatewayChainNote => ({
    listener: listenerName,
    gateway: gwRef,
    server: serverLabel,
    mode,
    ...extra,
  });
  if (protocol === 'HTTP' || protocol === 'HTTP2' || protocol === 'GRPC' || (protocol === 'HTTPS' && !server.tls)) {
    return {
      chains: [],
      notes: [note({ skipped: `protocol ${protocol}: HTTP routing is not served by meshgate's L4 data plane` })],
      tls: false,
    };
  }
  if (mode === 'PASSTHROUGH') {
    const routes = selectTlsRoutes(ctx, vss, gwRef, port, (sni) => hosts.some((h) => hostMatches(h, sni)));
    if (routes.length === 0)
      return { chains: [], notes: [note({ skipped: 'no tls route of a bound VirtualService matches this server' })], tls: true };
    return {
      chains: routes.map((r) => ({
        name: `${gwRef}|${serverLabel}|${r.serverNames.join(',')}`,
        filterChainMatch: { serverNames: r.serverNames },
        filters: [tcpProxyFilter(r.target, destinationIdleTimeout(ctx, r.target))],
      })),
      notes: routes.map((r) => note({ serverNames: r.serverNames, target: r.target })),
      tls: true,
    };
  }
  if (mode === 'AUTO_PASSTHROUGH') {
    // Istio's builtAutoPassthroughFilterChains: one chain per service port and subset, matched by the SNI a
    // mesh client sets (`outbound_.PORT_.SUBSET_.HOST`) and by Istio's mTLS ALPNs, so only mesh mTLS passes.
    const chains: FilterChain[] = [];
    const notes: GatewayChainNote[] = [];
    const sniDnat: SniDnatTarget[] = [];
    for (const svc of ctx.visible) {
      if (svc.location === 'MESH_EXTERNAL') continue;
      if (svc.hostname.startsWith('*') || !hosts.some((h) => hostMatches(h, svc.hostname))) continue;
      const dr = selectDestinationRule(ctx.snapshot, ctx.node, svc.hostname, svc.namespace);
      const subsets = [undefined, ...(dr?.rule.spec.subsets ?? [])];
      for (const p of [...svc.ports].sort((a, b) => a.port - b.port)) {
        if (p.protocol === 'UDP') continue;
        for (const subset of subsets) {
          const sni = outboundSni(p.port, subset?.name, svc.hostname);
          // Istio's SNI-DNAT cluster, named like the SNI: no TLS of its own, so the client's mTLS passes through.
          const target = directTarget(sni);
          sniDnat.push({ svc, port: p, ...(subset ? { subset } : {}) });
          chains.push({
            name: `${gwRef}|${serverLabel}|${sni}`,
            filterChainMatch: { serverNames: [sni], applicationProtocols: [...ALL_ISTIO_MTLS_ALPNS] },
            filters: [tcpProxyFilter(target)],
          });
          notes.push(note({ serverNames: [sni], target }));
        }
      }
    }
    return { chains, notes, tls: true, sniDnat };
  }
  const terminates = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL' || mode === 'ISTIO_MUTUAL';
  const target = selectTcpRoute(ctx, vss, gwRef, port);
  if (!target)
    return { chains: [], notes: [note({ skipped: 'no tcp route of a bound VirtualService matches this server' })], tls: terminates };
  const credential = server.tls?.credentialName ?? server.tls?.credentialNames?.[0];
  if (terminates && mode !== 'ISTIO_MUTUAL' && credential) {
    // A server whose credential cannot be served gets no chain (its SNI is refused) rather than one
    // that waits on a secret and holds the gateway's whole configuration back. That includes a proxy
    // whose identity may not hold credentials at all: SDS would never give it the secret, so a chain
    // naming it would leave Envoy's listener warming for good (and fail the snapshot's consistency check).
    if (!ctx.mayHoldCredentials) {
      return {
        chains: [],
        notes: [note({ skipped: `credentialName "${credential}" is not served to this proxy: ${credentialsRefusedReason(ctx.node)}` })],
        tls: true,
      };
    }
    const have = credentialAvailability(ctx.snapshot, ctx.node.namespace, credential);
    const needsCa = mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
    if (!have.cert || (needsCa && !have.ca)) {
      const what = [!have.cert ? 'certificate and key' : '', needsCa && !have.ca ? 'CA certificate' : ''].filter(Boolean).join(' or ');
      return {
        chains: [],
        notes: [
          note({
            skipped: `credentialName "${credential}" in ${ctx.node.namespace} has no usable ${what}${have.problem ? ` (${have.problem})` : ''}`,
          }),
        ],
        tls: true,
      };
    }
  }
  const serverNames = terminates ? sniForServer(hosts) : undefined;
  const c: FilterChain = {
    name: `${gwRef}|${serverLabel}`,
    ...(serverNames ? { filterChainMatch: { serverNames } } : {}),
    filters: [tcpProxyFilter(target, destinationIdleTimeout(ctx, target))],
    ...(terminates && server.tls ? { transportSocket: downstreamTransportSocket(gatewayDownstream(server.tls)) } : {}),
  };
  return { chains: [c], notes: [note({ ...(serverNames ? { serverNames } : {}), target })], tls: terminates };
}

export interface GatewayListenersResult {
  listeners: Listener[];
  notes: GatewayChainNote[];
  /** The SNI-DNAT clusters AUTO_PASSTHROUGH chains route to (each once). */
  sniDnat: SniDnatTarget[];
}

/**
 * One listener per port across every Gateway selecting this pod, named `ADDRESS_PORT`. Gateways bind
 * 0.0.0.0 as Istio's do; a server's `bind`, or captureMode NONE (the lab's loopback mode, where each
 * pod is one 127.x address), binds the given or the pod's own address instead.
 */
export function buildGatewayListeners(ctx: ModelContext): GatewayListenersResult {
  const byName = new Map<string, { address: string; port: number; chains: FilterChain[]; tls: boolean }>();
  const notes: GatewayChainNote[] = [];
  const sniDnat = new Map<string, SniDnatTarget>();
  for (const gw of gatewaysForProxy(ctx)) {
    for (const server of gw.spec.servers) {
      const port = gatewayListenPort(ctx, server.port.number);
      const address = server.bind ?? (ctx.node.interceptionMode === 'NONE' ? (ctx.node.ips[0] ?? '127.0.0.1') : '0.0.0.0');
      const name = `${address}_${port}`;
      let l = byName.get(name);
      if (!l) byName.set(name, (l = { address, port, chains: [], tls: false }));
      const r = serverChains(ctx, gw, server, name);
      // Istio keeps the first server for a given SNI on a port; later duplicates are dropped.
      for (const c of r.chains) {
        const key = JSON.stringify(c.filterChainMatch ?? {});
        if (l.chains.some((x) => JSON.stringify(x.filterChainMatch ?? {}) === key)) {
          notes.push({
            listener: name,
            gateway: `${gw.metadata.namespace}/${gw.metadata.name}`,
            server: c.name ?? '',
            mode: serverTlsMode(server),
            skipped: 'an earlier server on this port already matches the same SNI',
          });
          continue;
        }
        l.chains.push(c);
      }
      l.tls ||= r.tls;
      notes.push(...r.notes);
      for (const d of r.sniDnat ?? []) sniDnat.set(outboundSni(d.port.port, d.subset?.name, d.svc.hostname), d);
    }
  }
  const listeners: Listener[] = [];
  for (const [name, l] of byName) {
    if (l.chains.length === 0) continue; // Istio drops a gateway listener with no routes
    // SNI chains first; a chain without SNI match is the port's catch-all.
    const chains = [
      ...l.chains.filter((c) => c.filterChainMatch?.serverNames),
      ...l.chains.filter((c) => !c.filterChainMatch?.serverNames),
    ];
    listeners.push({
      name,
      address: { socketAddress: { address: l.address, portValue: l.port } },
      filterChains: chains,
      ...(l.tls
        ? { listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': TypeUrl.TlsInspector } }] }
        : {}),
      trafficDirection: 'OUTBOUND',
    });
  }
  return { listeners, notes, sniDnat: [...sniDnat.values()] };
}
