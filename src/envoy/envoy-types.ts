// The subset of Envoy's v3 API that meshgate generates and consumes, in proto3 canonical JSON form:
// lowerCamelCase field names, `Any` as `{ "@type": TYPE_URL, ...fields }`, `Duration` as "1.5s",
// wrapper types (UInt32Value, BoolValue) as bare values, enums by name. This is the form golden files
// are written in and the form both the control plane's model and the proxy work with; `xds/codec.ts`
// converts it to and from Envoy's protobuf encoding using the .proto files of @grpc/grpc-js-xds.
// Field names and meanings follow envoy/config/**/v3/*.proto exactly; only fields meshgate uses appear.

export const TypeUrl = {
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  TcpProxy: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  RBAC: 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC',
  UpstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  DownstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  TlsInspector: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  OriginalDst: 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
  FileAccessLog: 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
  RawBuffer: 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer',
} as const;
export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** A duration in proto3 JSON form, e.g. "10s", "0.250s". */
export type Duration = string;

export interface SocketAddress {
  address: string;
  portValue?: number;
  protocol?: 'TCP' | 'UDP';
}
export interface Address {
  socketAddress?: SocketAddress;
}

export interface TypedExtensionConfig<T = Record<string, unknown>> {
  name: string;
  typedConfig?: { '@type': string } & T;
}

// ---------------------------------------------------------------- TLS (envoy.extensions.transport_sockets.tls.v3)

export interface DataSource {
  filename?: string;
  inlineBytes?: string; // base64
  inlineString?: string;
}

export interface TlsCertificate {
  certificateChain?: DataSource;
  privateKey?: DataSource;
}

export interface StringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safeRegex?: { regex: string };
  ignoreCase?: boolean;
}

export interface SubjectAltNameMatcher {
  sanType: 'EMAIL' | 'DNS' | 'URI' | 'IP_ADDRESS';
  matcher: StringMatcher;
}

export interface CertificateValidationContext {
  trustedCa?: DataSource;
  matchTypedSubjectAltNames?: SubjectAltNameMatcher[];
  /** Deprecated in Envoy: each matcher applies to DNS, URI, email and IP SANs alike. */
  matchSubjectAltNames?: StringMatcher[];
  crl?: DataSource;
  /** Istio sets this on SIMPLE origination without a CA: accept any server certificate. */
  trustChainVerification?: 'VERIFY_TRUST_CHAIN' | 'ACCEPT_UNTRUSTED';
}

export interface SdsSecretConfig {
  name: string;
  sdsConfig?: ConfigSource;
}

export interface ConfigSource {
  ads?: Record<string, never>;
  resourceApiVersion?: 'V3';
  initialFetchTimeout?: Duration;
}

export interface TlsParameters {
  tlsMinimumProtocolVersion?: 'TLS_AUTO' | 'TLSv1_0' | 'TLSv1_1' | 'TLSv1_2' | 'TLSv1_3';
  tlsMaximumProtocolVersion?: 'TLS_AUTO' | 'TLSv1_0' | 'TLSv1_1' | 'TLSv1_2' | 'TLSv1_3';
  cipherSuites?: string[];
  ecdhCurves?: string[];
  signatureAlgorithms?: string[];
}

export interface CombinedCertificateValidationContext {
  defaultValidationContext: CertificateValidationContext;
  validationContextSdsSecretConfig: SdsSecretConfig;
}

export interface CommonTlsContext {
  tlsParams?: TlsParameters;
  tlsCertificates?: TlsCertificate[];
  tlsCertificateSdsSecretConfigs?: SdsSecretConfig[];
  validationContext?: CertificateValidationContext;
  validationContextSdsSecretConfig?: SdsSecretConfig;
  combinedValidationContext?: CombinedCertificateValidationContext;
  alpnProtocols?: string[];
}

export interface UpstreamTlsContext {
  commonTlsContext?: CommonTlsContext;
  sni?: string;
  allowRenegotiation?: boolean;
  maxSessionKeys?: number;
}

export interface DownstreamTlsContext {
  commonTlsContext?: CommonTlsContext;
  requireClientCertificate?: boolean;
  requireSni?: boolean;
  sessionTimeout?: Duration;
  /** Envoy: each key 80 bytes; the first encrypts new tickets. */
  sessionTicketKeys?: { keys: DataSource[] };
  disableStatelessSessionResumption?: boolean;
  disableStatefulSessionResumption?: boolean;
}

export interface GenericSecret {
  secret: DataSource;
}

/** envoy.extensions.transport_sockets.tls.v3.Secret, served over SDS. */
export interface Secret {
  name: string;
  tlsCertificate?: TlsCertificate;
  validationContext?: CertificateValidationContext;
  genericSecret?: GenericSecret;
}

export interface TransportSocket {
  name: string; // 'envoy.transport_sockets.tls' | 'envoy.transport_sockets.raw_buffer'
  typedConfig?:
    | ({ '@type': typeof TypeUrl.UpstreamTlsContext } & UpstreamTlsContext)
    | ({ '@type': typeof TypeUrl.DownstreamTlsContext } & DownstreamTlsContext)
    | { '@type': typeof TypeUrl.RawBuffer };
}

// ---------------------------------------------------------------- Listener (envoy.config.listener.v3)

export interface CidrRange {
  addressPrefix: string;
  prefixLen?: number;
}

export interface FilterChainMatch {
  destinationPort?: number;
  prefixRanges?: CidrRange[];
  directSourcePrefixRanges?: CidrRange[];
  sourcePrefixRanges?: CidrRange[];
  sourcePorts?: number[];
  serverNames?: string[];
  transportProtocol?: string; // 'tls' | 'raw_buffer'
  applicationProtocols?: string[];
}

export interface Filter {
  name: string; // 'envoy.filters.network.tcp_proxy' | 'envoy.filters.network.rbac'
  typedConfig: { '@type': string } & Record<string, unknown>;
}

export interface FilterChain {
  name?: string;
  filterChainMatch?: FilterChainMatch;
  filters: Filter[];
  transportSocket?: TransportSocket;
  transportSocketConnectTimeout?: Duration;
}

export interface ListenerFilter {
  name: string; // 'envoy.filters.listener.tls_inspector' | 'envoy.filters.listener.original_dst'
  typedConfig?: { '@type': string } & Record<string, unknown>;
}

export interface AccessLog {
  name: string; // 'envoy.access_loggers.file'
  typedConfig?: { '@type': typeof TypeUrl.FileAccessLog; path: string; logFormat?: unknown };
}

export interface Listener {
  name: string;
  address: Address;
  filterChains: FilterChain[];
  defaultFilterChain?: FilterChain;
  listenerFilters?: ListenerFilter[];
  listenerFiltersTimeout?: Duration;
  continueOnListenerFiltersTimeout?: boolean;
  useOriginalDst?: boolean;
  /** Istio's virtual outbound/inbound listeners do not bind; connections are handed to them. */
  bindToPort?: boolean;
  /** Envoy: connections on this listener neither count toward nor are refused by the global connection limit. */
  ignoreGlobalConnLimit?: boolean;
  trafficDirection?: 'UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';
  accessLog?: AccessLog[];
  metadata?: { filterMetadata?: Record<string, Record<string, unknown>> };
}

// ---------------------------------------------------------------- tcp_proxy (envoy.extensions.filters.network.tcp_proxy.v3)

export interface WeightedCluster {
  clusters: { name: string; weight: number }[];
}

export interface TcpProxy {
  statPrefix: string;
  cluster?: string;
  weightedClusters?: WeightedCluster;
  idleTimeout?: Duration;
  maxConnectAttempts?: number;
  accessLog?: AccessLog[];
}

// ---------------------------------------------------------------- RBAC network filter (L4 AuthorizationPolicy)

export interface RbacPrincipal {
  andIds?: { ids: RbacPrincipal[] };
  orIds?: { ids: RbacPrincipal[] };
  any?: boolean;
  authenticated?: { principalName: StringMatcher };
  directRemoteIp?: CidrRange;
  remoteIp?: CidrRange;
  notId?: RbacPrincipal;
}

export interface RbacPermission {
  andRules?: { rules: RbacPermission[] };
  orRules?: { rules: RbacPermission[] };
  any?: boolean;
  destinationPort?: number;
  destinationIp?: CidrRange;
  notRule?: RbacPermission;
}

export interface RbacPolicy {
  permissions: RbacPermission[];
  principals: RbacPrincipal[];
}

export interface NetworkRbac {
  statPrefix: string;
  rules?: { action: 'ALLOW' | 'DENY' | 'LOG'; policies: Record<string, RbacPolicy> };
}

// ---------------------------------------------------------------- Cluster (envoy.config.cluster.v3)

export interface HealthStatusEndpoint {
  endpoint: { address: Address; hostname?: string };
  healthStatus?: 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'DEGRADED';
  loadBalancingWeight?: number;
  metadata?: { filterMetadata?: Record<string, Record<string, unknown>> };
}

export interface LocalityLbEndpoints {
  locality?: { region?: string; zone?: string; subZone?: string };
  lbEndpoints: HealthStatusEndpoint[];
  loadBalancingWeight?: number;
  priority?: number;
}

export interface ClusterLoadAssignment {
  clusterName: string;
  endpoints: LocalityLbEndpoints[];
}

export interface CircuitBreakers {
  thresholds: { priority?: 'DEFAULT' | 'HIGH'; maxConnections?: number; maxPendingRequests?: number; maxRequests?: number }[];
}

export interface OutlierDetection {
  consecutive5xx?: number;
  consecutiveGatewayFailure?: number;
  consecutiveLocalOriginFailure?: number;
  splitExternalLocalOriginErrors?: boolean;
  interval?: Duration;
  baseEjectionTime?: Duration;
  maxEjectionPercent?: number;
  enforcingConsecutive5xx?: number;
  enforcingConsecutiveGatewayFailure?: number;
  enforcingConsecutiveLocalOriginFailure?: number;
}

export interface TcpKeepalive {
  keepaliveProbes?: number;
  keepaliveTime?: number;
  keepaliveInterval?: number;
}

export interface Cluster {
  name: string;
  type?: 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS' | 'ORIGINAL_DST';
  edsClusterConfig?: { edsConfig?: ConfigSource; serviceName?: string };
  connectTimeout?: Duration;
  lbPolicy?: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV' | 'CLUSTER_PROVIDED';
  loadAssignment?: ClusterLoadAssignment;
  dnsRefreshRate?: Duration;
  respectDnsTtl?: boolean;
  dnsLookupFamily?: 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';
  circuitBreakers?: CircuitBreakers;
  outlierDetection?: OutlierDetection;
  transportSocket?: TransportSocket;
  /** Per-endpoint transport: the first entry whose `match` is a subset of the endpoint's `envoy.transport_socket_match` metadata. */
  transportSocketMatches?: TransportSocketMatch[];
  /** Envoy's upstream_bind_config: the source address upstream connections bind before connecting. */
  upstreamBindConfig?: BindConfig;
  /** ORIGINAL_DST clusters: how often unused hosts are removed (Envoy's default 5s). */
  cleanupInterval?: Duration;
  upstreamConnectionOptions?: { tcpKeepalive?: TcpKeepalive };
  metadata?: { filterMetadata?: Record<string, Record<string, unknown>> };
}

export interface TransportSocketMatch {
  name: string;
  /** google.protobuf.Struct as plain JSON; `{}` matches every endpoint. */
  match?: Record<string, unknown>;
  transportSocket?: TransportSocket;
}

export interface BindConfig {
  sourceAddress?: SocketAddress;
  freebind?: boolean;
  extraSourceAddresses?: { address: SocketAddress }[];
}

/** The endpoint metadata namespace Envoy reads for transport socket matching (Istio writes `tlsMode` there). */
export const TRANSPORT_SOCKET_MATCH_KEY = 'envoy.transport_socket_match';

/** Everything one proxy is given, keyed by resource name within each type. */
export interface ProxyResources {
  listeners: Listener[];
  clusters: Cluster[];
  endpoints: ClusterLoadAssignment[];
  secrets: Secret[];
}
