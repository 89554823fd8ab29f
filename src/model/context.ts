// What every builder reads: the snapshot, the proxy asking, and the service registry built once per
// generation (Istio's PushContext + Proxy). Read-only.
import type { ConfigSnapshot, Pod } from '../config/types.js';
import type { ProxyNode } from '../envoy/node.js';
import { visibleServices, type MeshService } from './services.js';
import { pushContext, type PushContext } from './push-context.js';
import { sidecarAllows, sidecarScopeFor, type SidecarScope } from './sidecar-scope.js';
import { identityMayHoldCredentials, type ModelOptions } from './gateway-identity.js';

export interface ModelContext {
  readonly snapshot: ConfigSnapshot;
  /** What is derived from the snapshot once for every proxy (indexes, memoised answers). */
  readonly push: PushContext;
  readonly node: ProxyNode;
  readonly registry: readonly MeshService[];
  /** Services exported to the proxy's namespace. */
  readonly visible: readonly MeshService[];
  readonly trustDomain: string;
  readonly domainSuffix: string;
  readonly isRouter: boolean;
  /**
   * A gateway whose identity (namespace and service account, which the ADS server has checked against
   * the proven one) may be given its namespace's `kubernetes://` credentials; see gateway-identity.ts.
   */
  readonly mayHoldCredentials: boolean;
  /** The proxy's own pod, when the snapshot lists it. */
  readonly pod: Pod | undefined;
  /** The Sidecar resource in force for a sidecar proxy. */
  readonly scope: SidecarScope;
  /** What happens to destinations the mesh does not know (the Sidecar's setting, else MeshConfig's). */
  readonly outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

export function buildContext(snapshot: ConfigSnapshot, node: ProxyNode, opts: ModelOptions = {}): ModelContext {
  const push = pushContext(snapshot);
  const registry = push.registry;
  const scope = sidecarScopeFor(snapshot, node);
  return {
    snapshot,
    push,
    node,
    registry,
    visible: visibleServices(registry, node.namespace).filter((s) => sidecarAllows(scope, s)),
    scope,
    outboundTrafficPolicy: scope.outboundTrafficPolicy ?? snapshot.meshConfig.outboundTrafficPolicy,
    trustDomain: snapshot.meshConfig.trustDomain,
    domainSuffix: snapshot.meshConfig.domainSuffix,
    isRouter: node.role === 'router',
    mayHoldCredentials: node.role === 'router' && identityMayHoldCredentials(snapshot, node, node.namespace, opts),
    pod: push.pod(node.namespace, node.podName),
  };
}

/** Istio's cluster name `outbound|PORT|SUBSET|HOST` (model.BuildSubsetKey). */
export function outboundClusterName(port: number, subset: string | undefined, host: string): string {
  return `outbound|${port}|${subset ?? ''}|${host}`;
}

/** Istio's ISTIO_MUTUAL SNI `outbound_.PORT_.SUBSET_.HOST` (model.BuildDNSSrvSubsetKey). */
export function outboundSni(port: number, subset: string | undefined, host: string): string {
  return `outbound_.${port}_.${subset ?? ''}_.${host}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';
/** Istio's default connect timeout (MeshConfig.connectTimeout). */
/** Istio's default circuit-breaker thresholds: effectively unlimited (2^32-1). */
export const UNLIMITED = 4294967295;
export const DEFAULT_CONNECT_TIMEOUT = '10s';
