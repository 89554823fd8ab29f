// Sidecar inbound (Istio's listener_inbound.go): per workload port, filter chains that terminate mesh
// mTLS as PeerAuthentication says — STRICT only mTLS, PERMISSIVE mTLS and plaintext side by side,
// DISABLE plaintext — then L4 authorization (RBAC) and tcp_proxy to the application. With capture,
// everything arrives on `virtualInbound` (15006) and chains are matched by original destination port;
// without capture (captureMode NONE) each port is its own listener bound to the pod's address.
import type { Cluster, Filter, FilterChain, FilterChainMatch, Listener } from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import {
  BLACKHOLE_CLUSTER,
  DEFAULT_CONNECT_TIMEOUT,
  INBOUND_PASSTHROUGH_CLUSTER,
  UNLIMITED,
  inboundClusterName,
  type ModelContext,
} from './context.js';
import { buildRbacFilters } from './authorization.js';
import { byString, labelsMatch } from './labels.js';
import { peerAuthenticationMode, type EffectiveMtlsMode } from './peer-authentication.js';
import { directTarget, tcpProxyFilter } from './routes.js';
import { ALL_ISTIO_MTLS_ALPNS, downstreamTransportSocket, inboundMeshDownstream } from './tls-context.js';
import {
  encodeWorkloadMetadata,
  mergeWorkloadMetadata,
  spiffePrincipal,
  workloadMetadataOf,
  type EncodedWorkload,
  type WorkloadMetadata,
} from '../envoy/workload-metadata.js';

export const VIRTUAL_INBOUND = 'virtualInbound';
export const VIRTUAL_INBOUND_PORT = 15006;
/** Where the application listens without capture (captureMode NONE): there is no original destination to dial. */
export const APPLICATION_ADDRESS = '127.0.0.1';

export interface InboundPort {
  /** The port the workload listens on (a Service's targetPort). */
  port: number;
  /** Services that reach the workload on this port, `host:servicePort`. */
  services: string[];
  /** A Sidecar ingress `defaultEndpoint`: where the application listens instead of 127.0.0.1:port. */
  endpoint?: { address: string; port: number };
  /** A Sidecar ingress `bind` address (captureMode NONE). */
  bind?: string;
}

/**
 * The workload's inbound ports: a Sidecar's `ingress` list when it has one (Istio's explicit form),
 * else the targetPorts of Services selecting it and the ports the node reports.
 */
export function inboundPorts(ctx: ModelContext): InboundPort[] {
  if (ctx.scope.ingress.length > 0) {
    return ctx.scope.ingress.map((i) => ({
      port: i.port,
      services: [],
      ...(i.endpoint ? { endpoint: i.endpoint } : {}),
      ...(i.bind ? { bind: i.bind } : {}),
    }));
  }
  const ports = new Map<number, Set<string>>();
  const add = (p: number, svc?: string): void => {
    let s = ports.get(p);
    if (!s) ports.set(p, (s = new Set()));
    if (svc) s.add(svc);
  };
  for (const svc of ctx.registry) {
    if (svc.namespace !== ctx.node.namespace || !svc.selector || Object.keys(svc.selector).length === 0) continue;
    if (!labelsMatch(svc.selector, ctx.node.labels)) continue;
    for (const p of svc.ports) {
      if (p.protocol === 'UDP') continue;
      let target: number | undefined = typeof p.targetPort === 'number' ? p.targetPort : p.port;
      if (typeof p.targetPort === 'string') {
        target = undefined;
        for (const c of ctx.pod?.spec.containers ?? [])
          for (const cp of c.ports ?? []) if (cp.name === p.targetPort) target = cp.containerPort;
      }
      if (target !== undefined) add(target, `${svc.hostname}:${p.port}`);
    }
  }
  for (const p of ctx.node.workloadPorts ?? []) add(p);
  return [...ports.entries()].sort((a, b) => a[0] - b[0]).map(([port, s]) => ({ port, services: [...s].sort(byString) }));
}

function chain(name: string, match: FilterChainMatch, filters: Filter[], mtls: boolean): FilterChain {
  return {
    name,
    filterChainMatch: match,
    filters,
    ...(mtls ? { transportSocket: downstreamTransportSocket(inboundMeshDownstream()) } : {}),
  };
}

/** The chains for one destination (a port, or the passthrough catch-all) under one mTLS mode. */
function chainsFor(label: string, base: FilterChainMatch, mode: EffectiveMtlsMode, filters: Filter[]): FilterChain[] {
  switch (mode) {
    case 'STRICT':
      return [chain(`${label}|mtls`, { ...base, transportProtocol: 'tls' }, filters, true)];
    case 'DISABLE':
      return [chain(`${label}|plaintext`, { ...base }, filters, false)];
    case 'PERMISSIVE':
      return [
        // A mesh client announces itself with one of Istio's ALPNs; other TLS is the application's own and passes through.
        chain(`${label}|mtls`, { ...base, transportProtocol: 'tls', applicationProtocols: [...ALL_ISTIO_MTLS_ALPNS] }, filters, true),
        chain(`${label}|tls-passthrough`, { ...base, transportProtocol: 'tls' }, filters, false),
        chain(`${label}|plaintext`, { ...base, transportProtocol: 'raw_buffer' }, filters, false),
      ];
  }
}

/**
 * Who may connect, for the source labels of Istio's metrics: every workload of this cluster by the
 * SPIFFE principal its certificate carries (the proxy reads the entry of the peer it verified). Built
 * once per snapshot; workloads that share a service account share an entry, fields they disagree on
 * reading `unknown`.
 */
export function inboundPeerMetadata(ctx: ModelContext): Listener['metadata'] {
  const peers = ctx.push.memo(`inbound-peers|${ctx.trustDomain}|${ctx.node.clusterId}`, () => {
    const byPrincipal = new Map<string, WorkloadMetadata[]>();
    for (const pod of ctx.snapshot.pods) {
      const principal = spiffePrincipal(ctx.trustDomain, pod.metadata.namespace, pod.spec.serviceAccountName ?? 'default');
      const m = workloadMetadataOf({
        podName: pod.metadata.name,
        namespace: pod.metadata.namespace,
        labels: pod.metadata.labels ?? {},
        cluster: ctx.node.clusterId,
      });
      const list = byPrincipal.get(principal);
      if (list) list.push(m);
      else byPrincipal.set(principal, [m]);
    }
    const out: Record<string, EncodedWorkload> = {};
    for (const principal of [...byPrincipal.keys()].sort(byString))
      out[principal] = encodeWorkloadMetadata(mergeWorkloadMetadata(byPrincipal.get(principal)!));
    return out;
  });
  return Object.keys(peers).length > 0 ? { filterMetadata: { meshgate: { peers } } } : undefined;
}

export interface InboundResult {
  listeners: Listener[];
  clusters: Cluster[];
}

export function buildInbound(ctx: ModelContext): InboundResult {
  const capture = ctx.node.interceptionMode !== 'NONE';
  const rbac = buildRbacFilters(ctx.snapshot, ctx.node.namespace, ctx.node.labels);
  const ports = inboundPorts(ctx);
  const podAddress = ctx.node.ips[0] ?? '127.0.0.1';
  const clusters: Cluster[] = ports.map((p) => {
    // Istio's defaultEndpoint `0.0.0.0:PORT` means the application listens on the pod's own address.
    const ep = p.endpoint
      ? { address: p.endpoint.address === '0.0.0.0' ? podAddress : p.endpoint.address, port: p.endpoint.port }
      : undefined;
    return inboundCluster(p.port, p.services, { ...(ep ? { endpoint: ep } : {}), podAddress, noCapture: !capture }, (host) => {
      const svc = ctx.push.serviceByHost.get(host);
      return svc ? { name: svc.name, namespace: svc.namespace } : undefined;
    });
  });
  const tlsInspector = { name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': TypeUrl.TlsInspector } };
  const peerMetadata = inboundPeerMetadata(ctx);
  if (!capture) {
    const ip = ctx.node.ips[0] ?? '127.0.0.1';
    const listeners = ports.map(({ port, bind }): Listener => {
      const mode = peerAuthenticationMode(ctx.snapshot, ctx.node.namespace, ctx.node.labels, port);
      const address = bind ?? ip;
      return {
        name: `${address}_${port}`,
        address: { socketAddress: { address, portValue: port } },
        filterChains: chainsFor(`inbound|${port}`, { destinationPort: port }, mode, [
          ...rbac,
          tcpProxyFilter(directTarget(inboundClusterName(port))),
        ]),
        listenerFilters: [tlsInspector],
        bindToPort: true,
        trafficDirection: 'INBOUND',
        ...(peerMetadata ? { metadata: peerMetadata } : {}),
      };
    });
    return { listeners, clusters };
  }
  const chains: FilterChain[] = [
    // A connection whose original destination is 15006 itself would loop forever.
    {
      name: 'virtualInbound-blackhole',
      filterChainMatch: { destinationPort: VIRTUAL_INBOUND_PORT },
      filters: [tcpProxyFilter(directTarget(BLACKHOLE_CLUSTER))],
    },
  ];
  for (const { port } of ports) {
    const mode = peerAuthenticationMode(ctx.snapshot, ctx.node.namespace, ctx.node.labels, port);
    chains.push(
      ...chainsFor(`inbound|${port}`, { destinationPort: port }, mode, [...rbac, tcpProxyFilter(directTarget(inboundClusterName(port)))]),
    );
  }
  // Ports no Service names still get the workload-wide mTLS mode and authorization, then pass through.
  const wide = peerAuthenticationMode(ctx.snapshot, ctx.node.namespace, ctx.node.labels);
  chains.push(
    ...chainsFor('virtualInbound-ipv4', { prefixRanges: [{ addressPrefix: '0.0.0.0', prefixLen: 0 }] }, wide, [
      ...rbac,
      tcpProxyFilter(directTarget(INBOUND_PASSTHROUGH_CLUSTER)),
    ]),
  );
  const listener: Listener = {
    name: VIRTUAL_INBOUND,
    address: { socketAddress: { address: '0.0.0.0', portValue: VIRTUAL_INBOUND_PORT } },
    filterChains: chains,
    listenerFilters: [{ name: 'envoy.filters.listener.original_dst', typedConfig: { '@type': TypeUrl.OriginalDst } }, tlsInspector],
    trafficDirection: 'INBOUND',
    ...(peerMetadata ? { metadata: peerMetadata } : {}),
  };
  return { listeners: [listener], clusters };
}

/**
 * Istio's source address for the sidecar's inbound connections to the application (InboundPassthroughBindIpv4/6):
 * istio-iptables returns traffic from it on lo (`-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN`), so a
 * connection to the pod's own IP is not captured again.
 */
export function inboundBindAddress(podAddress: string): string {
  return podAddress.includes(':') ? '::6' : '127.0.0.6';
}

/** Istio disables host cleanup on inbound ORIGINAL_DST clusters: the longest Duration Go can hold. */
const NO_CLEANUP = '9223372035s';

export interface InboundTarget {
  /** A Sidecar's defaultEndpoint (0.0.0.0 already replaced by the pod address); undefined: the original destination. */
  endpoint?: { address: string; port: number };
  /** The pod's own address (the family of the bind address). */
  podAddress: string;
  /** captureMode NONE: there is no original destination to read, so the application is dialled on 127.0.0.1:PORT. */
  noCapture?: boolean;
}

/**
 * `inbound|PORT||`, as Istio builds it since 1.10: an ORIGINAL_DST cluster, so the sidecar dials the address
 * the client dialled (the pod IP) and applications listening only on the pod IP work, with the source bound
 * to 127.0.0.6. A Sidecar's defaultEndpoint makes it STATIC (`127.0.0.1:PORT` is the pre-1.10 behaviour
 * and binds nothing; the pod address binds 127.0.0.6 too). Without capture it stays `127.0.0.1:PORT`.
 */
export function inboundCluster(
  port: number,
  services: readonly string[],
  target: InboundTarget,
  serviceOf?: (host: string) => { name: string; namespace: string } | undefined,
): Cluster {
  const name = inboundClusterName(port);
  const fixed = target.endpoint ?? (target.noCapture ? { address: APPLICATION_ADDRESS, port } : undefined);
  const loopback = fixed !== undefined && (fixed.address === '127.0.0.1' || fixed.address === '::1');
  return {
    name,
    type: fixed ? 'STATIC' : 'ORIGINAL_DST',
    connectTimeout: DEFAULT_CONNECT_TIMEOUT,
    lbPolicy: fixed ? 'ROUND_ROBIN' : 'CLUSTER_PROVIDED',
    ...(fixed ? {} : { cleanupInterval: NO_CLEANUP }),
    // Istio's default thresholds (2^32-1) on inbound clusters too; Envoy's own default would cap a pod at 1,024 connections.
    circuitBreakers: { thresholds: [{ maxConnections: UNLIMITED, maxPendingRequests: UNLIMITED, maxRequests: UNLIMITED }] },
    ...(fixed
      ? {
          loadAssignment: {
            clusterName: name,
            endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: fixed.address, portValue: fixed.port } } } }] }],
          },
        }
      : {}),
    ...(loopback ? {} : { upstreamBindConfig: { sourceAddress: { address: inboundBindAddress(target.podAddress), portValue: 0 } } }),
    // As Istio: each service's host, name and namespace (destination_service_name/namespace on inbound).
    metadata: {
      filterMetadata: {
        istio: {
          services: [...new Set(services.map((s) => s.slice(0, s.lastIndexOf(':'))))].map((host) => ({ host, ...serviceOf?.(host) })),
        },
      },
    },
  };
}
