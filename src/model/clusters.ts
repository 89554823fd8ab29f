// Outbound clusters (Istio's buildOutboundClusters + applyTrafficPolicy + auto mTLS) and the special
// clusters every proxy gets. One cluster per service port, plus one per DestinationRule subset.
import type { ClientTLSSettings, Subset } from '../config/types.js';
import type {
  Cluster,
  ClusterLoadAssignment,
  OutlierDetection as EnvoyOutlierDetection,
  TransportSocket,
  TransportSocketMatch,
} from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import {
  BLACKHOLE_CLUSTER,
  DEFAULT_CONNECT_TIMEOUT,
  INBOUND_PASSTHROUGH_CLUSTER,
  outboundClusterName,
  outboundSni,
  PASSTHROUGH_CLUSTER,
  UNLIMITED,
  type ModelContext,
} from './context.js';
import { toProtoDuration, toSeconds } from './duration.js';
import { loadAssignment } from './endpoints.js';
import { inboundBindAddress } from './inbound-listeners.js';
import { peerAuthenticationMode } from './peer-authentication.js';
import type { MeshService, MeshServicePort, ServiceEndpoint } from './services.js';
import { serviceEndpoints, serviceIdentities } from './service-endpoints.js';
import { credentialUpstream, fileUpstream, istioMutualUpstream, originationNames, tlsTransportSocket } from './tls-context.js';
import { credentialAvailability } from './secrets.js';
import { credentialsRefusedReason } from './gateway-identity.js';
import { effectivePolicy, selectDestinationRule, type EffectivePolicy, type SelectedDestinationRule } from './traffic-policy.js';

/** Envoy's "unlimited" for circuit breaker thresholds, as Istio sets them by default. */

/** How a cluster secures its upstream connections, for metadata and `describe`. */
export type UpstreamSecurity =
  | { kind: 'plaintext'; why: string }
  | { kind: 'istio_mutual'; sni: string; sans: string[]; auto: boolean }
  | { kind: 'simple' | 'mutual'; sni?: string; sans: string[]; sanSource: string; credential?: string; files: boolean }
  | { kind: 'fail_closed'; reason: string };

export interface BuiltCluster {
  cluster: Cluster;
  /** The EDS assignment for Kubernetes-backed clusters. */
  assignment?: ClusterLoadAssignment;
  security: UpstreamSecurity;
}

function lbPolicy(p: EffectivePolicy): Cluster['lbPolicy'] {
  switch (p.loadBalancer?.simple) {
    case 'ROUND_ROBIN':
      return 'ROUND_ROBIN';
    case 'RANDOM':
      return 'RANDOM';
    default:
      // Istio's default since 1.14 is LEAST_REQUEST; LEAST_CONN is its deprecated alias; UNSPECIFIED means default.
      return 'LEAST_REQUEST';
  }
}

function outlierDetection(p: EffectivePolicy): EnvoyOutlierDetection | undefined {
  const od = p.outlierDetection;
  if (!od) return undefined;
  const out: EnvoyOutlierDetection = {};
  const c5xx = od.consecutive5xxErrors ?? od.consecutiveErrors;
  if (c5xx !== undefined) {
    out.consecutive5xx = c5xx;
    out.enforcingConsecutive5xx = c5xx > 0 ? 100 : 0;
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutiveGatewayFailure = od.consecutiveGatewayErrors;
    out.enforcingConsecutiveGatewayFailure = od.consecutiveGatewayErrors > 0 ? 100 : 0;
  }
  if (od.splitExternalLocalOriginErrors) {
    out.splitExternalLocalOriginErrors = true;
    if (od.consecutiveLocalOriginFailures !== undefined) {
      out.consecutiveLocalOriginFailure = od.consecutiveLocalOriginFailures;
      out.enforcingConsecutiveLocalOriginFailure = 100;
    }
  }
  if (od.interval) out.interval = toProtoDuration(od.interval);
  if (od.baseEjectionTime) out.baseEjectionTime = toProtoDuration(od.baseEjectionTime);
  if (od.maxEjectionPercent !== undefined && od.maxEjectionPercent > 0) out.maxEjectionPercent = od.maxEjectionPercent;
  return out;
}

/** connectionPool.tcp: connect timeout, max connections (circuit breaker), keepalive. */
function applyConnectionPool(c: Cluster, p: EffectivePolicy): void {
  const tcp = p.connectionPool?.tcp;
  c.connectTimeout = tcp?.connectTimeout ? toProtoDuration(tcp.connectTimeout) : DEFAULT_CONNECT_TIMEOUT;
  c.circuitBreakers = {
    thresholds: [{ maxConnections: tcp?.maxConnections ?? UNLIMITED, maxPendingRequests: UNLIMITED, maxRequests: UNLIMITED }],
  };
  const ka = tcp?.tcpKeepalive;
  if (ka) {
    c.upstreamConnectionOptions = {
      tcpKeepalive: {
        ...(ka.probes !== undefined ? { keepaliveProbes: ka.probes } : {}),
        ...(ka.time ? { keepaliveTime: toSeconds(ka.time) } : {}),
        ...(ka.interval ? { keepaliveInterval: toSeconds(ka.interval) } : {}),
      },
    };
  }
}

/**
 * The TLS a cluster originates (Istio's buildUpstreamTLSSettings + buildUpstreamClusterTLSContext),
 * with meshgate's one deliberate difference: a SIMPLE/MUTUAL rule with `credentialName` reaching a
 * sidecar fails closed instead of falling back to plaintext.
 */
function upstreamSecurity(
  ctx: ModelContext,
  svc: MeshService,
  port: MeshServicePort,
  subset: string | undefined,
  tls: ClientTLSSettings | undefined,
  endpoints: readonly ServiceEndpoint[],
  isOriginalDst: boolean,
): UpstreamSecurity {
  if (tls === undefined) {
    // Auto mTLS (Istio's buildUpstreamTLSSettings + applyUpstreamTLSSettings): ISTIO_MUTUAL decided per
    // endpoint with transport socket matches — endpoints whose metadata says `tlsMode: istio` get mTLS,
    // the others plaintext — so a service with some endpoints outside the mesh works.
    if (svc.location === 'MESH_EXTERNAL') return { kind: 'plaintext', why: 'MESH_EXTERNAL service: no auto mTLS' };
    if (isOriginalDst) return { kind: 'plaintext', why: 'original-destination cluster: no auto mTLS' };
    const disabled = endpoints.some((e) => peerAuthenticationMode(ctx.snapshot, e.namespace, e.labels, e.port) === 'DISABLE');
    if (disabled) return { kind: 'plaintext', why: 'auto mTLS: destination PeerAuthentication is DISABLE' };
    return {
      kind: 'istio_mutual',
      sni: outboundSni(port.port, subset, svc.hostname),
      sans: serviceIdentities(ctx.snapshot, svc, ctx.trustDomain),
      auto: true,
    };
  }
  const mode = tls.mode ?? 'DISABLE';
  switch (mode) {
    case 'DISABLE':
      return { kind: 'plaintext', why: 'DestinationRule tls.mode DISABLE' };
    case 'ISTIO_MUTUAL':
      return {
        kind: 'istio_mutual',
        sni: tls.sni ?? outboundSni(port.port, subset, svc.hostname),
        sans: tls.subjectAltNames ?? serviceIdentities(ctx.snapshot, svc, ctx.trustDomain),
        auto: false,
      };
    case 'SIMPLE':
    case 'MUTUAL': {
      const kind = mode === 'SIMPLE' ? 'simple' : 'mutual';
      const names = originationNames(tls, svc.registry === 'External' ? svc.subjectAltNames : undefined);
      if (tls.credentialName) {
        if (!ctx.isRouter) {
          return {
            kind: 'fail_closed',
            reason: `DestinationRule tls.mode ${mode} with credentialName "${tls.credentialName}" applies only to gateways; Istio ignores it on sidecars and would send plaintext, meshgate refuses connections on this cluster instead`,
          };
        }
        // Reference only SDS resources the gateway can be given: a missing or unusable Secret, or an
        // identity that may not hold credentials, fails this cluster closed instead of leaving the
        // proxy's whole snapshot waiting for a secret it will never get.
        if (!ctx.mayHoldCredentials) {
          return {
            kind: 'fail_closed',
            reason: `DestinationRule tls.mode ${mode} with credentialName "${tls.credentialName}": the credential is not served to this proxy: ${credentialsRefusedReason(ctx.node)}`,
          };
        }
        const have = credentialAvailability(ctx.snapshot, ctx.node.namespace, tls.credentialName);
        const missing = [
          mode === 'MUTUAL' && !have.cert ? 'certificate and key' : '',
          !tls.insecureSkipVerify && !have.ca ? 'CA certificate' : '',
        ].filter(Boolean);
        if (missing.length > 0) {
          return {
            kind: 'fail_closed',
            reason: `credentialName "${tls.credentialName}" in ${ctx.node.namespace} has no usable ${missing.join(' or ')}${have.problem ? ` (${have.problem})` : ''}`,
          };
        }
        return {
          kind,
          ...(tls.sni ? { sni: tls.sni } : {}),
          sans: names.sans,
          sanSource: names.source,
          credential: tls.credentialName,
          files: false,
        };
      }
      if (mode === 'MUTUAL' && (!tls.clientCertificate || !tls.privateKey)) {
        return {
          kind: 'fail_closed',
          reason: 'DestinationRule tls.mode MUTUAL needs clientCertificate and privateKey (or credentialName on a gateway)',
        };
      }
      return { kind, ...(tls.sni ? { sni: tls.sni } : {}), sans: names.sans, sanSource: names.source, files: true };
    }
  }
}

/**
 * Istio's auto mTLS shape: `tlsMode-istio` for endpoints whose `envoy.transport_socket_match` metadata
 * holds `tlsMode: istio` (a sidecar runs there), then `tlsMode-disabled`, matching every other endpoint,
 * in plaintext.
 */
function autoMtlsSocketMatches(mtls: TransportSocket): TransportSocketMatch[] {
  return [
    { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transportSocket: mtls },
    {
      name: 'tlsMode-disabled',
      match: {},
      transportSocket: { name: 'envoy.transport_sockets.raw_buffer', typedConfig: { '@type': TypeUrl.RawBuffer } },
    },
  ];
}

function istioMetadata(
  svc: MeshService,
  port: MeshServicePort,
  subset: string | undefined,
  dr: SelectedDestinationRule | undefined,
): Record<string, unknown> {
  return {
    services: [{ host: svc.hostname, name: svc.name, namespace: svc.namespace }],
    default_original_port: port.port,
    ...(subset ? { subset } : {}),
    // Istio's config path of the DestinationRule in force, which `proxy-config clusters` shows as DESTINATION RULE.
    ...(dr
      ? { config: `/apis/networking.istio.io/v1alpha3/namespaces/${dr.rule.metadata.namespace}/destination-rule/${dr.rule.metadata.name}` }
      : {}),
  };
}

/**
 * One outbound cluster `outbound|PORT|SUBSET|HOST` and, for Kubernetes services, its EDS assignment.
 * A cluster depends on the proxy only through the DestinationRule it selects and, for gateways, their
 * namespace (where `credentialName` Secrets are read) and whether they may hold those, so it is built once per snapshot for each such
 * combination and shared by every proxy that asks (Istio's XdsCache for CDS).
 */
export function buildOutboundCluster(ctx: ModelContext, svc: MeshService, port: MeshServicePort, subset?: Subset): BuiltCluster {
  const dr = selectDestinationRule(ctx.snapshot, ctx.node, svc.hostname, svc.namespace);
  const drKey = dr ? `${dr.rule.metadata.namespace}/${dr.rule.metadata.name}` : '';
  // Endpoint metadata names the cluster (Istio's telemetry string), so the proxy's cluster is part of the key.
  const proxyKey = `${ctx.isRouter ? `router/${ctx.node.namespace}/${ctx.mayHoldCredentials ? 'credentials' : 'none'}` : 'sidecar'}|${ctx.node.clusterId}`;
  if (ctx.push.serviceByHost.get(svc.hostname) !== svc) return buildCluster(ctx, svc, port, subset, dr);
  return ctx.push.memo(`cluster|${svc.hostname}|${port.port}|${port.name}|${subset?.name ?? ''}|${drKey}|${proxyKey}`, () =>
    buildCluster(ctx, svc, port, subset, dr),
  );
}

function buildCluster(
  ctx: ModelContext,
  svc: MeshService,
  port: MeshServicePort,
  subset: Subset | undefined,
  dr: SelectedDestinationRule | undefined,
): BuiltCluster {
  const name = outboundClusterName(port.port, subset?.name, svc.hostname);
  const policy = effectivePolicy(dr?.rule, port.port, subset);
  const endpoints = serviceEndpoints(ctx.snapshot, svc, port, subset?.labels);
  const c: Cluster = { name };
  let assignment: ClusterLoadAssignment | undefined;
  const passthroughLb = policy.loadBalancer?.simple === 'PASSTHROUGH';
  const isOriginalDst = passthroughLb || svc.resolution === 'NONE';
  if (isOriginalDst) {
    c.type = 'ORIGINAL_DST';
    c.lbPolicy = 'CLUSTER_PROVIDED';
  } else if (svc.resolution === 'EDS') {
    c.type = 'EDS';
    c.edsClusterConfig = { edsConfig: { ads: {}, resourceApiVersion: 'V3' }, serviceName: name };
    assignment = loadAssignment(name, endpoints, ctx.node.clusterId);
  } else if (svc.resolution === 'STATIC') {
    c.type = 'STATIC';
    c.loadAssignment = loadAssignment(name, endpoints, ctx.node.clusterId);
  } else {
    // DNS ⇒ STRICT_DNS (every address of every endpoint); DNS_ROUND_ROBIN ⇒ LOGICAL_DNS, which Envoy
    // allows with one endpoint only, so Istio keeps the first.
    c.type = svc.resolution === 'DNS' ? 'STRICT_DNS' : 'LOGICAL_DNS';
    c.loadAssignment = loadAssignment(name, svc.resolution === 'DNS' ? endpoints : endpoints.slice(0, 1), ctx.node.clusterId);
    c.dnsRefreshRate = '60s';
    c.respectDnsTtl = true;
    c.dnsLookupFamily = 'V4_ONLY';
  }
  applyConnectionPool(c, policy);
  if (!isOriginalDst) c.lbPolicy = lbPolicy(policy);
  const od = outlierDetection(policy);
  if (od) c.outlierDetection = od;

  const security = upstreamSecurity(ctx, svc, port, subset?.name, policy.tls, endpoints, isOriginalDst);
  // Why a cluster is secured as it is (which DestinationRule, auto mTLS, the SAN source, why plaintext)
  // is what `meshgate describe` reports from BuiltCluster.security; the wire carries only Istio's own
  // metadata, plus the reason on a fail-closed cluster, which a config dump must explain. Every proxy
  // receives every cluster, so each byte here is multiplied by clusters × proxies on a push.
  let failClosed: string | undefined;
  switch (security.kind) {
    case 'istio_mutual':
      if (security.auto)
        c.transportSocketMatches = autoMtlsSocketMatches(tlsTransportSocket(istioMutualUpstream(security.sni, security.sans)));
      else c.transportSocket = tlsTransportSocket(istioMutualUpstream(security.sni, security.sans));
      break;
    case 'simple':
    case 'mutual': {
      const tls = policy.tls as ClientTLSSettings;
      const names = { sans: security.sans, source: security.sanSource as 'sni' };
      c.transportSocket = tlsTransportSocket(security.credential ? credentialUpstream(tls, names) : fileUpstream(tls, names));
      break;
    }
    case 'fail_closed':
      // Fail closed in a way any Envoy also refuses: a STATIC cluster with no endpoints (response flag UH),
      // nothing to warm or resolve, and the reason in metadata for config dumps.
      c.type = 'STATIC';
      delete c.edsClusterConfig;
      delete c.dnsRefreshRate;
      delete c.respectDnsTtl;
      delete c.dnsLookupFamily;
      c.lbPolicy = lbPolicy(policy);
      c.loadAssignment = { clusterName: name, endpoints: [] };
      assignment = undefined;
      failClosed = security.reason;
      break;
    case 'plaintext':
      break;
  }
  c.metadata = {
    filterMetadata: {
      istio: istioMetadata(svc, port, subset?.name, dr),
      ...(failClosed ? { meshgate: { security: 'fail_closed', failClosed } } : {}),
    },
  };
  return { cluster: c, ...(assignment ? { assignment } : {}), security };
}

/** Keeps the endpoints whose metadata says a sidecar runs there (`tlsMode: istio`). */
function meshEndpointsOnly(cla: ClusterLoadAssignment, clusterName: string): ClusterLoadAssignment {
  return {
    clusterName,
    endpoints: cla.endpoints
      .map((l) => ({
        ...l,
        lbEndpoints: l.lbEndpoints.filter(
          (e) => (e.metadata?.filterMetadata?.['envoy.transport_socket_match'] as { tlsMode?: unknown } | undefined)?.tlsMode === 'istio',
        ),
      }))
      .filter((l) => l.lbEndpoints.length > 0),
  };
}

/**
 * Istio's SNI-DNAT cluster `outbound_.PORT_.SUBSET_.HOST` for AUTO_PASSTHROUGH gateway servers: the
 * outbound cluster under the SNI name a mesh client sets, with no transport socket of its own (the
 * client's mTLS passes through untouched to the destination's sidecar) and only endpoints that have one.
 */
export function buildSniDnatCluster(ctx: ModelContext, svc: MeshService, port: MeshServicePort, subset?: Subset): BuiltCluster {
  const built = buildOutboundCluster(ctx, svc, port, subset);
  const name = outboundSni(port.port, subset?.name, svc.hostname);
  const c: Cluster = { ...built.cluster, name };
  delete c.transportSocket;
  delete c.transportSocketMatches;
  if (c.edsClusterConfig) c.edsClusterConfig = { ...c.edsClusterConfig, serviceName: name };
  if (c.loadAssignment) c.loadAssignment = meshEndpointsOnly(c.loadAssignment, name);
  const security: UpstreamSecurity =
    built.security.kind === 'fail_closed'
      ? built.security
      : { kind: 'plaintext', why: "AUTO_PASSTHROUGH: the client's mTLS passes through" };
  return { cluster: c, ...(built.assignment ? { assignment: meshEndpointsOnly(built.assignment, name) } : {}), security };
}

/** Every outbound cluster for the services a proxy sees: each port, and each subset of the winning DestinationRule. */
export function buildOutboundClusters(ctx: ModelContext): BuiltCluster[] {
  const out: BuiltCluster[] = [];
  for (const svc of ctx.visible) {
    if (svc.hostname.startsWith('*')) continue; // wildcard ServiceEntry hosts have no cluster of their own
    const dr = selectDestinationRule(ctx.snapshot, ctx.node, svc.hostname, svc.namespace);
    for (const port of [...svc.ports].sort((a, b) => a.port - b.port)) {
      if (port.protocol === 'UDP') continue;
      out.push(buildOutboundCluster(ctx, svc, port));
      for (const subset of dr?.rule.spec.subsets ?? []) out.push(buildOutboundCluster(ctx, svc, port, subset));
    }
  }
  return out;
}

export function blackHoleCluster(): Cluster {
  return {
    name: BLACKHOLE_CLUSTER,
    type: 'STATIC',
    connectTimeout: DEFAULT_CONNECT_TIMEOUT,
    loadAssignment: { clusterName: BLACKHOLE_CLUSTER, endpoints: [] },
  };
}

export function passthroughCluster(): Cluster {
  return {
    name: PASSTHROUGH_CLUSTER,
    type: 'ORIGINAL_DST',
    connectTimeout: DEFAULT_CONNECT_TIMEOUT,
    lbPolicy: 'CLUSTER_PROVIDED',
    circuitBreakers: { thresholds: [{ maxConnections: UNLIMITED, maxPendingRequests: UNLIMITED, maxRequests: UNLIMITED }] },
  };
}

/** Istio binds the inbound passthrough's source to 127.0.0.6 (::6), which istio-iptables does not capture again. */
export function inboundPassthroughCluster(podAddress: string): Cluster {
  return {
    name: INBOUND_PASSTHROUGH_CLUSTER,
    type: 'ORIGINAL_DST',
    connectTimeout: DEFAULT_CONNECT_TIMEOUT,
    lbPolicy: 'CLUSTER_PROVIDED',
    circuitBreakers: { thresholds: [{ maxConnections: UNLIMITED, maxPendingRequests: UNLIMITED, maxRequests: UNLIMITED }] },
    upstreamBindConfig: { sourceAddress: { address: inboundBindAddress(podAddress), portValue: 0 } },
  };
}
