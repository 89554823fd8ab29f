// Typed models of the Istio and Kubernetes objects meshgate reads. Field names and enums follow
// Istio's API reference (networking.istio.io, security.istio.io) and Kubernetes core/v1, as written in
// YAML. These are the validated shapes: the loader (`config/load.ts`) checks `unknown` input against
// the schemas in `config/schema/` and only then hands out these types; everything downstream trusts them.

import type { z } from 'zod';
import type { destination, typeWorkloadSelector } from './schema/common.js';
import type { serviceSpec } from './schema/core.js';
import type { clientTlsSettings, destinationRuleSpec, subset, trafficPolicy } from './schema/destination-rule.js';
import type { gatewayServer, gatewaySpec, serverTlsSettings } from './schema/gateway.js';
import type { authorizationPolicySpec, peerAuthenticationSpec } from './schema/security.js';
import type { serviceEntrySpec, workloadEntrySpec } from './schema/service-entry.js';
import type { sidecarSpec } from './schema/sidecar.js';
import type { tcpRoute, tlsRoute, virtualServiceSpec } from './schema/virtual-service.js';

export interface ObjectMeta {
  name: string;
  namespace: string; // defaulted to "default" by the loader, as kubectl does; "" for cluster-scoped Namespace objects
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  generation?: number;
}

/** Where an object came from, for error messages and `analyze` output. */
export interface SourceRef {
  file: string;
  line: number; // 1-based line of the document start (or the object's `kind:` line)
  column: number;
  /** Positions of the object's fields, keyed by JSON path (`spec.gateways[0]`), for analyzer messages. */
  positions?: ReadonlyMap<string, { line: number; column: number }>;
}

export interface KubeObject<K extends string, S> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
}

// ---------------------------------------------------------------- networking.istio.io
// The spec types are the schemas' output types: each field is declared once, in `config/schema/`, and
// what validation accepts is exactly what the model can read.

type Item<T> = NonNullable<T> extends readonly (infer E)[] ? E : never;

export type WorkloadSelector = z.output<typeof typeWorkloadSelector>;

export type WorkloadEntrySpec = z.output<typeof workloadEntrySpec>;
export type ServiceEntrySpec = z.output<typeof serviceEntrySpec>;

export type Destination = z.output<typeof destination>;
export type TCPRoute = z.output<typeof tcpRoute>;
export type TLSRoute = z.output<typeof tlsRoute>;
export type RouteDestination = Item<TCPRoute['route']>;
export type L4MatchAttributes = Item<TCPRoute['match']>;
export type VirtualServiceSpec = z.output<typeof virtualServiceSpec>;

export type ClientTLSSettings = z.output<typeof clientTlsSettings>;
export type TrafficPolicy = z.output<typeof trafficPolicy>;
export type PortTrafficPolicy = Item<TrafficPolicy['portLevelSettings']>;
export type Subset = z.output<typeof subset>;
export type DestinationRuleSpec = z.output<typeof destinationRuleSpec>;

export type ServerTLSSettings = z.output<typeof serverTlsSettings>;
export type ServerTLSMode = NonNullable<ServerTLSSettings['mode']>;
export type TLSProtocol = NonNullable<ServerTLSSettings['minProtocolVersion']>;
export type GatewayServer = z.output<typeof gatewayServer>;
export type GatewaySpec = z.output<typeof gatewaySpec>;

export type SidecarSpec = z.output<typeof sidecarSpec>;

export type ServiceEntry = KubeObject<'ServiceEntry', ServiceEntrySpec>;
export type VirtualService = KubeObject<'VirtualService', VirtualServiceSpec>;
export type DestinationRule = KubeObject<'DestinationRule', DestinationRuleSpec>;
export type Gateway = KubeObject<'Gateway', GatewaySpec>;
export type Sidecar = KubeObject<'Sidecar', SidecarSpec>;

// ---------------------------------------------------------------- security.istio.io

export type PeerAuthenticationSpec = z.output<typeof peerAuthenticationSpec>;
export type PeerAuthenticationMode = NonNullable<NonNullable<PeerAuthenticationSpec['mtls']>['mode']>;
export type AuthorizationPolicySpec = z.output<typeof authorizationPolicySpec>;
export type AuthorizationRule = Item<AuthorizationPolicySpec['rules']>;
export type AuthorizationSource = Item<AuthorizationRule['from']>['source'];

export type PeerAuthentication = KubeObject<'PeerAuthentication', PeerAuthenticationSpec>;
export type AuthorizationPolicy = KubeObject<'AuthorizationPolicy', AuthorizationPolicySpec>;

// ---------------------------------------------------------------- core/v1

export type ServiceSpec = z.output<typeof serviceSpec>;

export type Service = KubeObject<'Service', ServiceSpec> & {
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
};

export interface Secret {
  apiVersion: string;
  kind: 'Secret';
  metadata: ObjectMeta;
  type?: string;
  /** Decoded values: `data` (base64) and `stringData` merged, stringData winning as Kubernetes does. */
  data: Record<string, Buffer>;
}

export interface Namespace {
  apiVersion: string;
  kind: 'Namespace';
  metadata: ObjectMeta;
}

export interface ServiceAccount {
  apiVersion: string;
  kind: 'ServiceAccount';
  metadata: ObjectMeta;
}

/** A pod as the lab (or the Kubernetes API) describes it: what the control plane needs for endpoints. */
export interface Pod {
  apiVersion: string;
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: { serviceAccountName?: string; containers?: { name: string; ports?: { containerPort: number; name?: string }[] }[] };
  status?: { podIP?: string; podIPs?: { ip: string }[]; phase?: string; conditions?: { type: string; status: string }[] };
}

/** An RFC 6902 patch targeted at a named object, as the seed's `ingressgateway-service-patch.json`. */
export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

export type IstioObject = ServiceEntry | VirtualService | DestinationRule | Gateway | Sidecar | PeerAuthentication | AuthorizationPolicy;
export type KubeCoreObject = Service | Secret | Namespace | ServiceAccount | Pod;
export type ConfigObject = IstioObject | KubeCoreObject;
export type ConfigKind = ConfigObject['kind'];

/** A consistent, immutable view of every object at one version; what the model translates from. */
export interface ConfigSnapshot {
  version: number;
  /** Cluster-wide settings: `cluster.local` suffix, trust domain, root namespace `istio-system`. */
  meshConfig: MeshConfig;
  serviceEntries: readonly ServiceEntry[];
  virtualServices: readonly VirtualService[];
  destinationRules: readonly DestinationRule[];
  gateways: readonly Gateway[];
  sidecars: readonly Sidecar[];
  peerAuthentications: readonly PeerAuthentication[];
  authorizationPolicies: readonly AuthorizationPolicy[];
  services: readonly Service[];
  secrets: readonly Secret[];
  namespaces: readonly Namespace[];
  serviceAccounts: readonly ServiceAccount[];
  pods: readonly Pod[];
  /** Where each object came from, keyed by `Kind/namespace/name`. */
  sources: ReadonlyMap<string, SourceRef>;
}

export interface MeshConfig {
  trustDomain: string; // "cluster.local" by default, as Istio
  domainSuffix: string; // "cluster.local"
  rootNamespace: string; // "istio-system"
  /** Istio's outboundTrafficPolicy.mode; ALLOW_ANY by default. */
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

export function objectKey(o: { kind: string; metadata: { namespace: string; name: string } }): string {
  return `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
}
