// Envoy resources in canonical proto3 JSON covering every shape in src/envoy/envoy-types.ts, written the
// way the control plane's model emits them for the seed scenario (names in Istio's conventions).
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import type { Cluster, ClusterLoadAssignment, Listener, Secret } from '../../src/envoy/envoy-types.js';
import type { NameTable } from '../../src/envoy/name-table.js';

export const EGRESS_CLUSTER = 'outbound|15443|mysql|istio-egressgateway.istio-system.svc.cluster.local';
export const MYSQL_CLUSTER = 'outbound|13306||mysql.fqdn.example';

export const virtualOutbound: Listener = {
  name: 'virtualOutbound',
  address: { socketAddress: { address: '0.0.0.0', portValue: 15001 } },
  useOriginalDst: true,
  bindToPort: true,
  trafficDirection: 'OUTBOUND',
  listenerFilters: [
    { name: 'envoy.filters.listener.original_dst', typedConfig: { '@type': TypeUrl.OriginalDst } },
    { name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': TypeUrl.TlsInspector } },
  ],
  listenerFiltersTimeout: '0.100s',
  continueOnListenerFiltersTimeout: true,
  filterChains: [
    {
      name: '0.0.0.0_3306',
      filterChainMatch: {
        destinationPort: 3306,
        prefixRanges: [{ addressPrefix: '240.240.0.1', prefixLen: 32 }],
        transportProtocol: 'raw_buffer',
      },
      filters: [
        {
          name: 'envoy.filters.network.tcp_proxy',
          typedConfig: {
            '@type': TypeUrl.TcpProxy,
            statPrefix: EGRESS_CLUSTER,
            cluster: EGRESS_CLUSTER,
            idleTimeout: '3600s',
            maxConnectAttempts: 3,
            accessLog: [{ name: 'envoy.access_loggers.file', typedConfig: { '@type': TypeUrl.FileAccessLog, path: '/dev/stdout' } }],
          },
        },
      ],
    },
    {
      name: 'weighted',
      filterChainMatch: { destinationPort: 5432, sourcePrefixRanges: [{ addressPrefix: '127.0.0.0', prefixLen: 8 }], sourcePorts: [40000] },
      filters: [
        {
          name: 'envoy.filters.network.tcp_proxy',
          typedConfig: {
            '@type': TypeUrl.TcpProxy,
            statPrefix: 'weighted',
            weightedClusters: {
              clusters: [
                { name: 'a', weight: 90 },
                { name: 'b', weight: 10 },
              ],
            },
          },
        },
      ],
    },
  ],
  defaultFilterChain: {
    name: 'PassthroughFilterChain',
    filters: [
      {
        name: 'envoy.filters.network.tcp_proxy',
        typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: 'PassthroughCluster', cluster: 'PassthroughCluster' },
      },
    ],
  },
  accessLog: [
    {
      name: 'envoy.access_loggers.file',
      typedConfig: {
        '@type': TypeUrl.FileAccessLog,
        path: '/dev/stdout',
        logFormat: { textFormat: '[%START_TIME%] %UPSTREAM_CLUSTER%\n' },
      },
    },
  ],
};

export const ingressListener: Listener = {
  name: '0.0.0.0_13306',
  address: { socketAddress: { address: '0.0.0.0', portValue: 13306 } },
  trafficDirection: 'INBOUND',
  listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': TypeUrl.TlsInspector } }],
  filterChains: [
    {
      filterChainMatch: {
        serverNames: ['mysql.fqdn.example'],
        transportProtocol: 'tls',
        applicationProtocols: ['istio-peer-exchange', 'istio'],
      },
      transportSocketConnectTimeout: '15s',
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: {
          '@type': TypeUrl.DownstreamTlsContext,
          requireClientCertificate: true,
          requireSni: true,
          sessionTimeout: '300s',
          disableStatelessSessionResumption: true,
          commonTlsContext: {
            tlsParams: {
              tlsMinimumProtocolVersion: 'TLSv1_2',
              tlsMaximumProtocolVersion: 'TLSv1_3',
              cipherSuites: ['ECDHE-ECDSA-AES256-GCM-SHA384'],
              ecdhCurves: ['P-256'],
            },
            tlsCertificateSdsSecretConfigs: [
              { name: 'kubernetes://mysql-credential', sdsConfig: { ads: {}, resourceApiVersion: 'V3', initialFetchTimeout: '0s' } },
            ],
            combinedValidationContext: {
              defaultValidationContext: {
                matchTypedSubjectAltNames: [
                  { sanType: 'DNS', matcher: { exact: 'client.fqdn.example' } },
                  { sanType: 'URI', matcher: { prefix: 'spiffe://cluster.local/', ignoreCase: true } },
                ],
              },
              validationContextSdsSecretConfig: {
                name: 'kubernetes://mysql-credential-cacert',
                sdsConfig: { ads: {}, resourceApiVersion: 'V3' },
              },
            },
            alpnProtocols: ['istio-peer-exchange', 'istio'],
          },
        },
      },
      filters: [
        {
          name: 'envoy.filters.network.rbac',
          typedConfig: {
            '@type': TypeUrl.RBAC,
            statPrefix: 'tcp.',
            rules: {
              policies: {
                'ns[default]-policy[allow-client]-rule[0]': {
                  permissions: [
                    {
                      andRules: {
                        rules: [{ destinationPort: 3306 }, { notRule: { destinationIp: { addressPrefix: '10.0.0.0', prefixLen: 8 } } }],
                      },
                    },
                    { any: true },
                  ],
                  principals: [
                    { andIds: { ids: [{ authenticated: { principalName: { exact: 'spiffe://cluster.local/ns/default/sa/client' } } }] } },
                    {
                      orIds: {
                        ids: [
                          { directRemoteIp: { addressPrefix: '127.0.0.1', prefixLen: 32 } },
                          { remoteIp: { addressPrefix: '127.0.0.0', prefixLen: 8 } },
                        ],
                      },
                    },
                    { notId: { authenticated: { principalName: { safeRegex: { regex: '.*/ns/bad/.*' } } } } },
                    { any: true },
                  ],
                },
              },
            },
          },
        },
        {
          name: 'envoy.filters.network.tcp_proxy',
          typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: 'inbound', cluster: 'inbound|3306||' },
        },
      ],
    },
    {
      filterChainMatch: { transportProtocol: 'raw_buffer', directSourcePrefixRanges: [{ addressPrefix: '127.0.0.1', prefixLen: 32 }] },
      transportSocket: { name: 'envoy.transport_sockets.raw_buffer', typedConfig: { '@type': TypeUrl.RawBuffer } },
      filters: [
        {
          name: 'envoy.filters.network.tcp_proxy',
          typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: 'plain', cluster: 'inbound|3306||' },
        },
      ],
    },
  ],
};

export const edsCluster: Cluster = {
  name: EGRESS_CLUSTER,
  type: 'EDS',
  edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3', initialFetchTimeout: '0s' }, serviceName: EGRESS_CLUSTER },
  connectTimeout: '10s',
  lbPolicy: 'LEAST_REQUEST',
  circuitBreakers: {
    thresholds: [
      { maxConnections: 4294967295, maxPendingRequests: 1024, maxRequests: 1024 },
      { priority: 'HIGH', maxConnections: 100 },
    ],
  },
  outlierDetection: {
    consecutive5xx: 5,
    consecutiveGatewayFailure: 3,
    consecutiveLocalOriginFailure: 5,
    splitExternalLocalOriginErrors: true,
    interval: '10s',
    baseEjectionTime: '30s',
    maxEjectionPercent: 100,
    enforcingConsecutive5xx: 100,
    enforcingConsecutiveGatewayFailure: 100,
    enforcingConsecutiveLocalOriginFailure: 100,
  },
  upstreamConnectionOptions: { tcpKeepalive: { keepaliveProbes: 9, keepaliveTime: 7200, keepaliveInterval: 75 } },
  transportSocket: {
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': TypeUrl.UpstreamTlsContext,
      sni: 'mysql.fqdn.example',
      allowRenegotiation: true,
      maxSessionKeys: 4,
      commonTlsContext: {
        tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: { ads: {}, resourceApiVersion: 'V3' } }],
        combinedValidationContext: {
          defaultValidationContext: {
            matchTypedSubjectAltNames: [
              { sanType: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account' } },
            ],
          },
          validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: { ads: {}, resourceApiVersion: 'V3' } },
        },
        alpnProtocols: ['istio-peer-exchange', 'istio'],
      },
    },
  },
  metadata: {
    filterMetadata: {
      istio: {
        services: [{ host: 'istio-egressgateway.istio-system.svc.cluster.local', name: 'istio-egressgateway', namespace: 'istio-system' }],
        default_original_port: 15443,
      },
    },
  },
};

export const staticDnsCluster: Cluster = {
  name: MYSQL_CLUSTER,
  type: 'STRICT_DNS',
  connectTimeout: '5s',
  dnsRefreshRate: '60s',
  respectDnsTtl: true,
  dnsLookupFamily: 'V4_ONLY',
  loadAssignment: {
    clusterName: MYSQL_CLUSTER,
    endpoints: [
      {
        lbEndpoints: [
          { endpoint: { address: { socketAddress: { address: 'mysql.fqdn.example', portValue: 13306 } }, hostname: 'mysql.fqdn.example' } },
        ],
      },
    ],
  },
  transportSocket: {
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': TypeUrl.UpstreamTlsContext,
      sni: 'mysql.fqdn.example',
      commonTlsContext: {
        tlsCertificateSdsSecretConfigs: [{ name: 'kubernetes://client-credential', sdsConfig: { ads: {}, resourceApiVersion: 'V3' } }],
        validationContextSdsSecretConfig: {
          name: 'kubernetes://client-credential-cacert',
          sdsConfig: { ads: {}, resourceApiVersion: 'V3' },
        },
      },
    },
  },
};

export const originalDstCluster: Cluster = {
  name: 'PassthroughCluster',
  type: 'ORIGINAL_DST',
  connectTimeout: '10s',
  lbPolicy: 'CLUSTER_PROVIDED',
};

export const inlineTlsCluster: Cluster = {
  name: 'outbound|443||files.example',
  type: 'STATIC',
  connectTimeout: '1s',
  lbPolicy: 'RANDOM',
  loadAssignment: {
    clusterName: 'outbound|443||files.example',
    endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 8443 } } } }] }],
  },
  transportSocket: {
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': TypeUrl.UpstreamTlsContext,
      commonTlsContext: {
        tlsCertificates: [{ certificateChain: { filename: '/etc/certs/cert.pem' }, privateKey: { filename: '/etc/certs/key.pem' } }],
        validationContext: {
          trustedCa: { filename: '/etc/certs/ca.pem' },
          crl: { inlineString: '-----BEGIN X509 CRL-----' },
          trustChainVerification: 'ACCEPT_UNTRUSTED',
        },
      },
    },
  },
};

export const assignment: ClusterLoadAssignment = {
  clusterName: EGRESS_CLUSTER,
  endpoints: [
    {
      locality: { region: 'us-central1', zone: 'us-central1-a', subZone: 'rack-1' },
      loadBalancingWeight: 2,
      priority: 1,
      lbEndpoints: [
        {
          endpoint: { address: { socketAddress: { address: '127.1.0.3', portValue: 15443 } } },
          healthStatus: 'HEALTHY',
          loadBalancingWeight: 1,
          metadata: {
            filterMetadata: {
              'envoy.transport_socket_match': { tlsMode: 'istio' },
              istio: { workload: 'istio-egressgateway;istio-system;;;cluster-a' },
            },
          },
        },
        { endpoint: { address: { socketAddress: { address: '127.1.0.4', portValue: 15443 } } }, healthStatus: 'DRAINING' },
      ],
    },
  ],
};

export const certSecret: Secret = {
  name: 'kubernetes://client-credential',
  tlsCertificate: {
    certificateChain: { inlineBytes: Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64') },
    privateKey: { inlineBytes: Buffer.from('-----BEGIN PRIVATE KEY-----\n').toString('base64') },
  },
};
export const caSecret: Secret = {
  name: 'kubernetes://client-credential-cacert',
  validationContext: {
    trustedCa: { inlineBytes: Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64') },
    matchTypedSubjectAltNames: [{ sanType: 'DNS', matcher: { suffix: '.fqdn.example' } }],
  },
};
export const genericSecret: Secret = { name: 'token', genericSecret: { secret: { inlineString: 'not-a-real-secret' } } };

export const nameTable: NameTable = {
  table: {
    'mysql.fqdn.example': { ips: ['240.240.0.1'], registry: 'External' },
    'mysql.default.svc.cluster.local': { ips: ['10.96.0.10'], registry: 'Kubernetes', shortname: 'mysql', namespace: 'default' },
  },
};
