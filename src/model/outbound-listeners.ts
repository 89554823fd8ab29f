// Sidecar outbound listeners (Istio's buildSidecarOutboundListeners for TCP/TLS ports): one listener
// per service address and port — `VIP_PORT` for services with an address, `0.0.0.0_PORT` for those
// without (a DNS ServiceEntry) — reached through `virtualOutbound` (15001, useOriginalDst) when
// iptables captures traffic, or bound to the pod's own address when capture is off (captureMode NONE).
import type { CidrRange, FilterChain, Listener } from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import { hostMatches } from '../config/hosts.js';
import { BLACKHOLE_CLUSTER, outboundClusterName, PASSTHROUGH_CLUSTER, type ModelContext } from './context.js';
import {
  destinationIdleTimeout,
  directTarget,
  MESH_GATEWAY,
  selectTcpRoute,
  selectTlsRoutes,
  tcpProxyFilter,
  virtualServicesForHost,
  type RouteTarget,
} from './routes.js';
import { inboundPorts } from './inbound-listeners.js';
import type { MeshService, MeshServicePort } from './services.js';

export const VIRTUAL_OUTBOUND = 'virtualOutbound';
export const VIRTUAL_OUTBOUND_PORT = 15001;

/** Protocols whose first bytes are a TLS ClientHello, so several hosts can share a port by SNI. */
export function isTlsProtocol(protocol: string): boolean {
  return protocol === 'TLS' || protocol === 'HTTPS';
}

export interface OutboundChainNote {
  listener: string;
  host: string;
  port: number;
  target: RouteTarget;
  /** Set when another service already holds this address and port without SNI to tell them apart. */
  shadowedBy?: string;
}

interface ListenerDraft {
  name: string;
  address: string;
  port: number;
  chains: FilterChain[];
  tls: boolean;
  /** Hosts holding the SNI-less chain, for conflict reporting. */
  plainOwner?: string;
}

function tlsInspector(): { name: string; typedConfig: { '@type': string } } {
  return { name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': TypeUrl.TlsInspector } };
}

function fallbackCluster(ctx: ModelContext): string {
  return ctx.outboundTrafficPolicy === 'REGISTRY_ONLY' ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER;
}

function bindAddress(ctx: ModelContext, svc: MeshService): string {
  if (ctx.node.interceptionMode === 'NONE') return ctx.node.ips[0] ?? '127.0.0.1';
  return svc.vips[0] ?? '0.0.0.0';
}

/** The tcp route (or the service's own cluster) for a host and port as seen from this sidecar. */
function tcpTarget(ctx: ModelContext, svc: MeshService, port: MeshServicePort): RouteTarget {
  const vss = virtualServicesForHost(ctx, MESH_GATEWAY, svc.hostname);
  return selectTcpRoute(ctx, vss, MESH_GATEWAY, port.port) ?? directTarget(outboundClusterName(port.port, undefined, svc.hostname));
}

export interface OutboundListenersResult {
  listeners: Listener[];
  notes: OutboundChainNote[];
}

function cidrRange(c: string): CidrRange {
  const [addressPrefix, len] = c.split('/') as [string, string];
  return { addressPrefix, prefixLen: Number(len) };
}

export function buildOutboundListeners(ctx: ModelContext): OutboundListenersResult {
  const capture = ctx.node.interceptionMode !== 'NONE';
  const drafts = new Map<string, ListenerDraft>();
  const notes: OutboundChainNote[] = [];
  // Without capture, inbound and outbound listeners share the pod's address: the workload's own ports
  // belong to inbound (Istio needs a Sidecar egress `bind` for the same case).
  const inboundTaken = new Set(capture ? [] : inboundPorts(ctx).map((p) => `${p.bind ?? ctx.node.ips[0] ?? '127.0.0.1'}_${p.port}`));
  for (const svc of ctx.visible) {
    if (svc.hostname.startsWith('*')) continue;
    for (const port of [...svc.ports].sort((a, b) => a.port - b.port)) {
      if (port.protocol === 'UDP') continue;
      const address = bindAddress(ctx, svc);
      const name = `${address}_${port.port}`;
      if (inboundTaken.has(name)) {
        notes.push({
          listener: name,
          host: svc.hostname,
          port: port.port,
          target: directTarget(outboundClusterName(port.port, undefined, svc.hostname)),
          shadowedBy: "this workload's own inbound listener",
        });
        continue;
      }
      let d = drafts.get(name);
      if (!d) drafts.set(name, (d = { name, address, port: port.port, chains: [], tls: false }));
      // Several hosts on one address and port: TLS ports are told apart by SNI, others cannot be.
      const shared = address === '0.0.0.0' || ctx.node.interceptionMode === 'NONE';
      if (isTlsProtocol(port.protocol)) {
        d.tls = true;
        const vss = virtualServicesForHost(ctx, MESH_GATEWAY, svc.hostname);
        const routed = selectTlsRoutes(ctx, vss, MESH_GATEWAY, port.port, (sni) => hostMatches(sni, svc.hostname));
        for (const r of routed) {
          d.chains.push({
            name: `${name}|${r.serverNames.join(',')}`,
            filterChainMatch: { serverNames: r.serverNames },
            filters: [tcpProxyFilter(r.target, destinationIdleTimeout(ctx, r.target))],
          });
          notes.push({ listener: name, host: svc.hostname, port: port.port, target: r.target });
        }
        const covered = routed.some((r) => r.serverNames.includes(svc.hostname));
        if (!covered) {
          const target = tcpTarget(ctx, svc, port);
          d.chains.push({
            name: `${name}|${svc.hostname}`,
            ...(shared ? { filterChainMatch: { serverNames: [svc.hostname] } } : {}),
            filters: [tcpProxyFilter(target, destinationIdleTimeout(ctx, target))],
          });
          notes.push({ listener: name, host: svc.hostname, port: port.port, target });
        }
        continue;
      }
      const target = tcpTarget(ctx, svc, port);
      if (capture && address === '0.0.0.0' && svc.cidrs.length > 0) {
        // ServiceEntry addresses given as CIDR ranges: the shared listener tells them apart by destination.
        d.chains.push({
          name: `${name}|${svc.hostname}`,
          filterChainMatch: { prefixRanges: svc.cidrs.map(cidrRange) },
          filters: [tcpProxyFilter(target, destinationIdleTimeout(ctx, target))],
        });
        notes.push({ listener: name, host: svc.hostname, port: port.port, target });
        continue;
      }
      if (d.plainOwner !== undefined) {
        notes.push({ listener: name, host: svc.hostname, port: port.port, target, shadowedBy: d.plainOwner });
        continue;
      }
      d.plainOwner = svc.hostname;
      d.chains.push({ name: `${name}|${svc.hostname}`, filters: [tcpProxyFilter(target, destinationIdleTimeout(ctx, target))] });
      notes.push({ listener: name, host: svc.hostname, port: port.port, target });
    }
  }
  const listeners: Listener[] = [...drafts.values()].map((d) => {
    // A chain without a match must come last so SNI and prefix chains on the same listener read first.
    const chains = [...d.chains.filter((c) => c.filterChainMatch), ...d.chains.filter((c) => !c.filterChainMatch)];
    const l: Listener = {
      name: d.name,
      address: { socketAddress: { address: d.address, portValue: d.port } },
      filterChains: chains,
      bindToPort: !capture,
      trafficDirection: 'OUTBOUND',
    };
    if (d.tls) l.listenerFilters = [tlsInspector()];
    // On a shared 0.0.0.0 listener, traffic no chain claims goes where virtualOutbound would send it.
    if (capture && d.address === '0.0.0.0' && d.plainOwner === undefined) {
      l.defaultFilterChain = { name: `${d.name}|passthrough`, filters: [tcpProxyFilter(directTarget(fallbackCluster(ctx)))] };
    }
    return l;
  });
  if (capture) listeners.push(virtualOutboundListener(ctx));
  return { listeners, notes };
}

/** Istio's 15001 listener: hands connections to the listener for their original destination, else passthrough. */
export function virtualOutboundListener(ctx: ModelContext): Listener {
  return {
    name: VIRTUAL_OUTBOUND,
    address: { socketAddress: { address: '0.0.0.0', portValue: VIRTUAL_OUTBOUND_PORT } },
    filterChains: [
      // A connection whose original destination is 15001 itself would loop forever.
      {
        name: 'virtualOutbound-blackhole',
        filterChainMatch: { destinationPort: VIRTUAL_OUTBOUND_PORT },
        filters: [tcpProxyFilter(directTarget(BLACKHOLE_CLUSTER))],
      },
      { name: 'virtualOutbound-catchall-tcp', filters: [tcpProxyFilter(directTarget(fallbackCluster(ctx)))] },
    ],
    useOriginalDst: true,
    trafficDirection: 'OUTBOUND',
  };
}
