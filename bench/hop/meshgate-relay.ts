// meshgate's own proxy on the single-hop load: the real Proxy class (the program `meshgate proxy` runs)
// in a process of its own, given the resources the model generates for an egress gateway's
// TLS-origination hop (test/model/golden/egress-gateway.json): a 0.0.0.0_15443-style listener with
// tls_inspector and an SNI filter chain terminating mTLS (client certificate required, ALPN as Istio's),
// tcp_proxy to a cluster whose UpstreamTlsContext presents the `kubernetes://client-credential` Secret
// with SNI and a DNS SAN check, and a json access log to a file, as in the lab.
// Usage: node meshgate-relay.js SETUP.json. Prints "listening" when ready.
import type { Cluster, Listener, Secret } from '../../src/envoy/envoy-types.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { Proxy } from '../../src/proxy/proxy.js';
import { HOP_HOST, readHopSetup, type HopSetup } from './setup.js';

const CLUSTER = 'outbound|13306||mysql.fqdn.example';
const CREDENTIAL = 'kubernetes://client-credential';
const sds = { ads: {}, resourceApiVersion: 'V3' };
const circuitBreakers = { thresholds: [{ maxConnections: 4294967295, maxPendingRequests: 4294967295, maxRequests: 4294967295 }] };

/** The egress gateway's listener, cluster and secrets for one hop, as the control plane would push them. */
function hopResources(s: HopSetup): { listeners: Listener[]; clusters: Cluster[]; secrets: Secret[] } {
  const listener: Listener = {
    name: '0.0.0.0_15443',
    address: { socketAddress: { address: HOP_HOST, portValue: s.listenPort } },
    listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': TypeUrl.TlsInspector } }],
    trafficDirection: 'OUTBOUND',
    filterChains: [
      {
        name: 'default/istio-egressgateway-mysql|tls',
        filterChainMatch: { serverNames: [s.sni] },
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: CLUSTER, cluster: CLUSTER },
          },
        ],
        transportSocket: {
          name: 'envoy.transport_sockets.tls',
          typedConfig: {
            '@type': TypeUrl.DownstreamTlsContext,
            requireClientCertificate: true,
            commonTlsContext: {
              alpnProtocols: ['istio-peer-exchange', 'h2', 'http/1.1'],
              tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: sds }],
              combinedValidationContext: {
                defaultValidationContext: {},
                validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: sds },
              },
            },
          },
        },
      },
    ],
  } as Listener;
  const cluster: Cluster = {
    name: CLUSTER,
    type: 'STATIC',
    connectTimeout: '10s',
    lbPolicy: 'LEAST_REQUEST',
    circuitBreakers,
    loadAssignment: {
      clusterName: CLUSTER,
      endpoints: [
        {
          lbEndpoints: [
            { endpoint: { address: { socketAddress: { address: s.upstream.host, portValue: s.upstream.port } } }, healthStatus: 'HEALTHY' },
          ],
        },
      ],
    },
    transportSocket: {
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        '@type': TypeUrl.UpstreamTlsContext,
        sni: s.sni,
        commonTlsContext: {
          tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' },
          tlsCertificateSdsSecretConfigs: [{ name: CREDENTIAL, sdsConfig: sds }],
          combinedValidationContext: {
            defaultValidationContext: { matchTypedSubjectAltNames: [{ sanType: 'DNS', matcher: { exact: s.sni } }] },
            validationContextSdsSecretConfig: { name: `${CREDENTIAL}-cacert`, sdsConfig: sds },
          },
        },
      },
    },
    metadata: {
      filterMetadata: {
        istio: { services: [{ host: s.sni, name: s.sni, namespace: 'default' }], default_original_port: 13306 },
      },
    },
  } as Cluster;
  const cert = (name: string, p: { certPem: string; keyPem: string }): Secret => ({
    name,
    tlsCertificate: { certificateChain: { inlineString: p.certPem }, privateKey: { inlineString: p.keyPem } },
  });
  const ca = (name: string, pem: string): Secret => ({ name, validationContext: { trustedCa: { inlineString: pem } } });
  return {
    listeners: [listener],
    clusters: [cluster],
    secrets: [
      cert('default', s.downstream),
      ca('ROOTCA', s.downstream.caPem),
      cert(CREDENTIAL, s.upstreamTls),
      ca(`${CREDENTIAL}-cacert`, s.upstreamTls.caPem),
    ],
  };
}

async function main(): Promise<void> {
  const setup = readHopSetup(process.argv[2]);
  const proxy = new Proxy({
    node: {
      id: 'router~127.0.0.1~istio-egressgateway-bench.istio-system~istio-system.svc.cluster.local',
      role: 'router',
      ips: [HOP_HOST],
      podName: 'istio-egressgateway-bench',
      namespace: 'istio-system',
      serviceAccount: 'istio-egressgateway-service-account',
      labels: { app: 'istio-egressgateway', istio: 'egressgateway' },
      clusterId: 'cluster-a',
      domainSuffix: 'cluster.local',
    },
    ...(setup.accessLogPath ? { accessLog: { path: setup.accessLogPath, format: 'json' as const } } : {}),
  });
  const r = hopResources(setup);
  proxy.applySecrets(r.secrets, '1');
  proxy.applyClusters(r.clusters, '1');
  await proxy.applyListeners(r.listeners, '1');
  process.stdout.write('listening\n');
  process.on('SIGTERM', () => {
    void proxy.close(0).then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`meshgate relay: ${(err as Error).message}\n`);
  process.exit(1);
});
