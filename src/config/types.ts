// Typed models of the Istio and Kubernetes objects meshgate reads. Field names and enums follow
// Istio's API reference (networking.istio.io, security.istio.io) and Kubernetes core/v1, as written in
// YAML. These are the validated shapes: the loader (`config/load.ts`) checks `unknown` input against
// the schemas in `config/schema/` and only then hands out these types; everything downstream trusts them.

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

export interface PortSelector {
  number?: number;
}

export interface WorkloadSelector {
  matchLabels?: Record<string, string>;
}

export type ServiceEntryLocation = 'MESH_EXTERNAL' | 'MESH_INTERNAL';
export type ServiceEntryResolution = 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';
export type PortProtocol = 'HTTP' | 'HTTPS' | 'GRPC' | 'GRPC-WEB' | 'HTTP2' | 'MONGO' | 'MYSQL' | 'REDIS' | 'TCP' | 'TLS' | 'UDP';

export interface ServicePort {
  number: number;
  protocol?: string; // upper-case name from PortProtocol; derived from `name` prefix when absent
  name: string;
  targetPort?: number;
}

export interface WorkloadEntrySpec {
  address?: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  network?: string;
  locality?: string;
  weight?: number;
  serviceAccount?: string;
}

export interface ServiceEntrySpec {
  hosts: string[];
  addresses?: string[];
  ports?: ServicePort[];
  location?: ServiceEntryLocation;
  resolution?: ServiceEntryResolution;
  endpoints?: WorkloadEntrySpec[];
  workloadSelector?: { labels?: Record<string, string> };
  exportTo?: string[];
  subjectAltNames?: string[];
}

export interface Destination {
  host: string;
  subset?: string;
  port?: PortSelector;
}

export interface RouteDestination {
  destination: Destination;
  weight?: number;
}

export interface L4MatchAttributes {
  destinationSubnets?: string[];
  port?: number;
  sourceLabels?: Record<string, string>;
  gateways?: string[];
  sourceNamespace?: string;
}

export interface TLSMatchAttributes extends L4MatchAttributes {
  sniHosts: string[];
}

export interface TCPRoute {
  match?: L4MatchAttributes[];
  route?: RouteDestination[];
}

export interface TLSRoute {
  match: TLSMatchAttributes[];
  route?: RouteDestination[];
}

export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  /** HTTP routes are parsed and kept but not served by meshgate's L4 data plane. */
  http?: Record<string, unknown>[];
  tls?: TLSRoute[];
  tcp?: TCPRoute[];
  exportTo?: string[];
}

export type ClientTLSMode = 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';

export interface ClientTLSSettings {
  mode?: ClientTLSMode;
  clientCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  caCrl?: string;
  credentialName?: string;
  subjectAltNames?: string[];
  sni?: string;
  insecureSkipVerify?: boolean;
}

export type SimpleLB = 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST';

export interface LoadBalancerSettings {
  simple?: SimpleLB;
  consistentHash?: Record<string, unknown>;
  localityLbSetting?: Record<string, unknown>;
  warmupDurationSecs?: string;
}

export interface TCPSettings {
  maxConnections?: number;
  connectTimeout?: string; // protobuf Duration in YAML form, e.g. "10s", "500ms"
  tcpKeepalive?: { probes?: number; time?: string; interval?: string };
  maxConnectionDuration?: string;
  idleTimeout?: string;
}

export interface ConnectionPoolSettings {
  tcp?: TCPSettings;
  http?: Record<string, unknown>;
}

export interface OutlierDetection {
  splitExternalLocalOriginErrors?: boolean;
  consecutiveLocalOriginFailures?: number;
  consecutiveGatewayErrors?: number;
  consecutive5xxErrors?: number;
  consecutiveErrors?: number; // deprecated alias kept by Istio
  interval?: string;
  baseEjectionTime?: string;
  maxEjectionPercent?: number;
  minHealthPercent?: number;
}

export interface PortTrafficPolicy {
  port?: PortSelector;
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
  portLevelSettings?: PortTrafficPolicy[];
  tunnel?: Record<string, unknown>;
  proxyProtocol?: Record<string, unknown>;
}

export interface Subset {
  name: string;
  labels?: Record<string, string>;
  trafficPolicy?: TrafficPolicy;
}

export interface DestinationRuleSpec {
  host: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: Subset[];
  exportTo?: string[];
  workloadSelector?: WorkloadSelector;
}

export type ServerTLSMode = 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL' | 'OPTIONAL_MUTUAL';
export type TLSProtocol = 'TLS_AUTO' | 'TLSV1_0' | 'TLSV1_1' | 'TLSV1_2' | 'TLSV1_3';

export interface ServerTLSSettings {
  httpsRedirect?: boolean;
  mode?: ServerTLSMode;
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  caCrl?: string;
  credentialName?: string;
  credentialNames?: string[];
  subjectAltNames?: string[];
  verifyCertificateSpki?: string[];
  verifyCertificateHash?: string[];
  minProtocolVersion?: TLSProtocol;
  maxProtocolVersion?: TLSProtocol;
  cipherSuites?: string[];
}

export interface GatewayPort {
  number: number;
  protocol: string;
  name: string;
  targetPort?: number;
}

export interface GatewayServer {
  port: GatewayPort;
  bind?: string;
  hosts: string[];
  tls?: ServerTLSSettings;
  defaultEndpoint?: string;
  name?: string;
}

export interface GatewaySpec {
  servers: GatewayServer[];
  selector?: Record<string, string>;
}

export interface IstioEgressListener {
  port?: { number: number; protocol?: string; name?: string; targetPort?: number };
  bind?: string;
  captureMode?: 'DEFAULT' | 'IPTABLES' | 'NONE';
  hosts: string[];
}

export interface SidecarSpec {
  /** networking.v1alpha3.WorkloadSelector: `labels`, unlike the security APIs' `matchLabels`. */
  workloadSelector?: { labels?: Record<string, string> };
  ingress?: Record<string, unknown>[];
  egress?: IstioEgressListener[];
  outboundTrafficPolicy?: { mode?: 'REGISTRY_ONLY' | 'ALLOW_ANY'; egressProxy?: Destination };
}

export type ServiceEntry = KubeObject<'ServiceEntry', ServiceEntrySpec>;
export type VirtualService = KubeObject<'VirtualService', VirtualServiceSpec>;
export type DestinationRule = KubeObject<'DestinationRule', DestinationRuleSpec>;
export type Gateway = KubeObject<'Gateway', GatewaySpec>;
export type Sidecar = KubeObject<'Sidecar', SidecarSpec>;

// ---------------------------------------------------------------- security.istio.io

export type PeerAuthenticationMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface PeerAuthenticationSpec {
  selector?: WorkloadSelector;
  mtls?: { mode?: PeerAuthenticationMode };
  portLevelMtls?: Record<string, { mode?: PeerAuthenticationMode }>;
}

export interface AuthorizationSource {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
}

export interface AuthorizationOperation {
  ports?: string[];
  notPorts?: string[];
  hosts?: string[];
  notHosts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface AuthorizationRule {
  from?: { source: AuthorizationSource }[];
  to?: { operation: AuthorizationOperation }[];
  when?: { key: string; values?: string[]; notValues?: string[] }[];
}

export interface AuthorizationPolicySpec {
  selector?: WorkloadSelector;
  rules?: AuthorizationRule[];
  action?: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  provider?: { name: string };
}

export type PeerAuthentication = KubeObject<'PeerAuthentication', PeerAuthenticationSpec>;
export type AuthorizationPolicy = KubeObject<'AuthorizationPolicy', AuthorizationPolicySpec>;

// ---------------------------------------------------------------- core/v1

export interface KubeServicePort {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

export interface ServiceSpec {
  selector?: Record<string, string>;
  ports?: KubeServicePort[];
  clusterIP?: string;
  clusterIPs?: string[];
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  externalName?: string;
  loadBalancerIP?: string;
  externalIPs?: string[];
}

export type Service = KubeObject<'Service', ServiceSpec> & { status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } };

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
  status?: { podIP?: string; podIPs?: { ip: string }[]; phase?: string };
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
