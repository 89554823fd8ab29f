// AUTO_PASSTHROUGH through real proxies: a mesh client's mTLS (SNI outbound_.PORT_._.HOST, Istio's ALPN)
// crosses a gateway configured by the model untouched — to the SNI-DNAT cluster, which adds no TLS of
// its own — and is terminated by the destination's sidecar, which sees the client's SPIFFE ID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Gateway } from '../../src/config/types.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { generateProxyResources } from '../../src/model/generate.js';
import { downstreamTransportSocket, inboundMeshDownstream } from '../../src/model/tls-context.js';
import { pod, routerNode, service, snapshotOf } from '../model/fixtures.js';
import {
  caSecret,
  certSecret,
  echoServer,
  issue,
  listener,
  makeCa,
  newProxy,
  port,
  roundTrip,
  spiffe,
  staticCluster,
  tcpProxyFilter,
  upstreamTls,
  uriSan,
  waitFor,
} from './helpers.js';

test("AUTO_PASSTHROUGH: the client's mTLS passes the gateway unchanged and the destination sidecar sees the client's SPIFFE ID", async (t) => {
  const ca = await makeCa('mesh-ca');
  const clientId = await issue(ca, { uris: [spiffe('default', 'sleep')] });
  const dbId = await issue(ca, { uris: [spiffe('default', 'db')] });
  const gwId = await issue(ca, { uris: [spiffe('istio-system', 'gw')] });

  // The destination pod 127.0.56.2: its sidecar terminates mesh mTLS and forwards to the application.
  const app = await echoServer(t);
  const B = newProxy(t);
  B.proxy.setLocalSecret('default', certSecret('default', dbId));
  B.proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  B.proxy.applyClusters([staticCluster('inbound|db||', [{ port: app.port }])]);
  await B.proxy.applyListeners([
    {
      name: 'inbound',
      address: { socketAddress: { address: '127.0.56.2', portValue: 0 } },
      trafficDirection: 'INBOUND',
      listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': TypeUrl.TlsInspector } }],
      filterChains: [
        {
          name: 'mtls',
          filterChainMatch: { transportProtocol: 'tls' },
          transportSocket: downstreamTransportSocket(inboundMeshDownstream()),
          filters: [tcpProxyFilter('inbound|db||')],
        },
      ],
    },
  ]);
  const dbPort = port(B.proxy, 'inbound');

  // The gateway 127.0.56.1 (captureMode NONE: it binds its own address), configured by the model.
  const gwPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.56.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const gw: Gateway = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: { name: 'cross', namespace: 'istio-system' },
    spec: {
      selector: { istio: 'eastwest' },
      servers: [
        {
          port: { number: gwPort, name: 'tls', protocol: 'TLS' },
          hosts: ['*.default.svc.cluster.local'],
          tls: { mode: 'AUTO_PASSTHROUGH' },
        },
      ],
    },
  };
  const r = generateProxyResources(
    snapshotOf([
      service('db', 'default', { app: 'db' }, [{ name: 'tcp', port: dbPort }], '10.96.0.40'),
      pod('db-1', 'default', '127.0.56.2', { app: 'db' }, { sidecar: true, sa: 'db' }),
      pod('gw-1', 'istio-system', '127.0.56.1', { istio: 'eastwest' }, { sa: 'gw' }),
      gw,
    ]),
    routerNode({
      podName: 'gw-1',
      namespace: 'istio-system',
      labels: { istio: 'eastwest' },
      ips: ['127.0.56.1'],
      interceptionMode: 'NONE',
    }),
  );
  const G = newProxy(t);
  G.proxy.setLocalSecret('default', certSecret('default', gwId));
  G.proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  G.proxy.applyClusters(r.clusters);
  G.proxy.applyEndpoints(r.endpoints);
  await G.proxy.applyListeners(r.listeners);

  // The client sidecar: ISTIO_MUTUAL toward the gateway with the destination's SNI and identity, Istio's client ALPN.
  const sni = `outbound_.${dbPort}_._.db.default.svc.cluster.local`;
  const A = newProxy(t);
  A.proxy.setLocalSecret('default', certSecret('default', clientId));
  A.proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  const toGw = upstreamTls({ sni, sans: [uriSan(spiffe('default', 'db'))] });
  (toGw.typedConfig as { commonTlsContext: { alpnProtocols?: string[] } }).commonTlsContext.alpnProtocols = [
    'istio-peer-exchange',
    'istio',
  ];
  A.proxy.applyClusters([staticCluster('to-gw', [{ address: '127.0.56.1', port: gwPort }], { transportSocket: toGw })]);
  await A.proxy.applyListeners([listener('out', 0, [{ filters: [tcpProxyFilter('to-gw')] }])]);

  const res = await roundTrip(port(A.proxy, 'out'), 'through');
  assert.equal(
    res.echoed,
    'through',
    `no echo; gateway: ${JSON.stringify(G.logs.map((l) => [l.filterChain, l.upstreamCluster, l.responseFlags, l.upstreamTransportFailureReason]))} client: ${JSON.stringify(A.logs.map((l) => l.upstreamTransportFailureReason))}`,
  );
  await waitFor(() => A.logs.length === 1 && G.logs.length === 1 && B.logs.length === 1, 5000, 'access logs on the three proxies');
  assert.equal(A.logs[0]!.upstreamPeerPrincipal, spiffe('default', 'db'), 'the client verified the destination, not the gateway');
  assert.equal(G.logs[0]!.upstreamCluster, sni);
  assert.equal(G.logs[0]!.upstreamTlsVersion, '', 'the gateway added no TLS of its own');
  assert.equal(G.logs[0]!.requestedServerName, sni);
  assert.equal(B.logs[0]!.downstreamPeerPrincipal, spiffe('default', 'sleep'), "the destination sidecar sees the client's SPIFFE ID");
});
