// Per-endpoint upstream transport and source address: Envoy's transport_socket_matches as Istio's auto
// mTLS writes them (one service, an endpoint with a sidecar reached with mTLS, one without in plaintext),
// EDS metadata changes taking effect, upstream_bind_config's source address, and what is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { DestinationRule } from '../../src/config/types.js';
import type { ClusterLoadAssignment } from '../../src/envoy/envoy-types.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { generateProxyResources } from '../../src/model/generate.js';
import { downstreamTransportSocket, inboundMeshDownstream } from '../../src/model/tls-context.js';
import { pod, service, sidecarNode, snapshotOf } from '../model/fixtures.js';
import {
  caSecret,
  certSecret,
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
  waitFor,
} from './helpers.js';

type After = Parameters<typeof newProxy>[0];

/** A plain TCP server on address:port (0: any) that echoes and records each connection's source and first byte. */
async function plainServer(t: After, address: string, p = 0): Promise<{ port: number; seen: { remote: string; firstByte: number }[] }> {
  const seen: { remote: string; firstByte: number }[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.once('data', (d: Buffer) => seen.push({ remote: s.remoteAddress ?? '', firstByte: d[0] ?? -1 }));
    s.pipe(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, address, resolve);
  });
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, seen };
}

const TLS_HANDSHAKE = 0x16;

test("auto mTLS per endpoint: through the client sidecar, the endpoint with a sidecar gets mTLS (its peer sees the client's SPIFFE ID), the plain one plaintext", async (t) => {
  const ca = await makeCa('mesh-ca');
  const clientId = await issue(ca, { uris: [spiffe('default', 'sleep')] });
  const serverId = await issue(ca, { uris: [spiffe('default', 'mixed')] });

  // Pod m-2 (no sidecar): a plain server on 127.0.55.2; its port is the service port for both pods.
  const plain = await plainServer(t, '127.0.55.2');
  const svcPort = plain.port;
  // Pod m-1 (sidecar): the server sidecar on 127.0.55.1 terminating mesh mTLS as the model builds it, then the app.
  const app = await plainServer(t, '127.0.0.1');
  const B = newProxy(t);
  B.proxy.setLocalSecret('default', certSecret('default', serverId));
  B.proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  B.proxy.applyClusters([staticCluster('inbound|app||', [{ port: app.port }])]);
  await B.proxy.applyListeners([
    {
      name: 'inbound',
      address: { socketAddress: { address: '127.0.55.1', portValue: svcPort } },
      trafficDirection: 'INBOUND',
      listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': TypeUrl.TlsInspector } }],
      filterChains: [
        {
          name: 'mtls',
          filterChainMatch: { transportProtocol: 'tls' },
          transportSocket: downstreamTransportSocket(inboundMeshDownstream()),
          filters: [tcpProxyFilter('inbound|app||')],
        },
      ],
    },
  ]);

  // The client sidecar's cluster and endpoints for service "mixed", exactly as the model generates them.
  const dr: DestinationRule = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'mixed', namespace: 'default' },
    spec: { host: 'mixed', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } },
  };
  const snapshot = snapshotOf([
    service('mixed', 'default', { app: 'mixed' }, [{ name: 'tcp', port: svcPort }], '10.96.0.30'),
    pod('m-1', 'default', '127.0.55.1', { app: 'mixed' }, { sidecar: true, sa: 'mixed' }),
    pod('m-2', 'default', '127.0.55.2', { app: 'mixed' }),
    dr,
  ]);
  const r = generateProxyResources(
    snapshot,
    sidecarNode({ podName: 'sleep', namespace: 'default', labels: { app: 'sleep' }, serviceAccount: 'sleep' }),
  );
  const name = `outbound|${svcPort}||mixed.default.svc.cluster.local`;
  const cluster = r.clusters.find((c) => c.name === name);
  assert.ok(cluster, `no cluster ${name}`);
  assert.deepEqual(
    cluster.transportSocketMatches?.map((m) => m.name),
    ['tlsMode-istio', 'tlsMode-disabled'],
  );
  const A = newProxy(t);
  A.proxy.setLocalSecret('default', certSecret('default', clientId));
  A.proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  A.proxy.applyClusters([cluster]);
  A.proxy.applyEndpoints([r.endpoints.find((e) => e.clusterName === name)!]);
  await A.proxy.applyListeners([listener('out', 0, [{ filters: [tcpProxyFilter(name)] }])]);

  for (const msg of ['one', 'two']) assert.equal((await roundTrip(port(A.proxy, 'out'), msg)).echoed, msg);
  await waitFor(() => A.logs.length === 2 && B.logs.length === 1, 5000, 'access logs');
  const byHost = new Map(A.logs.map((l) => [l.upstreamHost, l]));
  const mesh = byHost.get(`127.0.55.1:${svcPort}`);
  const open = byHost.get(`127.0.55.2:${svcPort}`);
  assert.ok(mesh && open, `one connection per endpoint; hosts: ${[...byHost.keys()].join(', ')}`);
  assert.equal(mesh.upstreamPeerPrincipal, spiffe('default', 'mixed'), 'mTLS to the endpoint with a sidecar, its identity verified');
  assert.match(mesh.upstreamTlsVersion, /^TLSv1\.[23]$/);
  assert.equal(B.logs[0]!.downstreamPeerPrincipal, spiffe('default', 'sleep'), "the server sidecar sees the client's SPIFFE ID");
  assert.equal(open.upstreamTlsVersion, '', 'plaintext to the endpoint without a sidecar');
  assert.equal(open.upstreamPeerPrincipal, '');
  assert.equal(plain.seen.length, 1);
  assert.notEqual(plain.seen[0]!.firstByte, TLS_HANDSHAKE, 'the plain endpoint received no TLS');
  assert.equal(app.seen.length, 1, 'the sidecar-fronted application got its connection');
});

test('transport socket matches: the first match whose criteria are all in the endpoint metadata wins; EDS metadata changes take effect on the next connection', async (t) => {
  const ca = await makeCa('mesh-ca');
  const server = await plainServer(t, '127.0.0.1');
  const A = newProxy(t);
  A.proxy.setLocalSecret('default', certSecret('default', await issue(ca, { uris: [spiffe('a', 'a')] })));
  A.proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  A.proxy.applyClusters([
    {
      name: 'c',
      type: 'EDS',
      connectTimeout: '2s',
      edsClusterConfig: { edsConfig: { ads: {} } },
      transportSocketMatches: [
        // Needs two keys: an endpoint with only tlsMode: istio must not match it.
        { name: 'both', match: { tlsMode: 'istio', zone: 'x' }, transportSocket: upstreamTls({ sni: 'both' }) },
        { name: 'istio', match: { tlsMode: 'istio' }, transportSocket: upstreamTls({ sni: 'istio' }) },
        {
          name: 'plain',
          match: {},
          transportSocket: { name: 'envoy.transport_sockets.raw_buffer', typedConfig: { '@type': TypeUrl.RawBuffer } },
        },
      ],
    },
  ]);
  await A.proxy.applyListeners([listener('out', 0, [{ filters: [tcpProxyFilter('c')] }])]);
  const cla = (meta?: Record<string, unknown>): ClusterLoadAssignment => ({
    clusterName: 'c',
    endpoints: [
      {
        lbEndpoints: [
          {
            endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: server.port } } },
            ...(meta ? { metadata: { filterMetadata: { 'envoy.transport_socket_match': meta } } } : {}),
          },
        ],
      },
    ],
  });
  A.proxy.applyEndpoints([cla({ tlsMode: 'disabled' })]);
  assert.equal((await roundTrip(port(A.proxy, 'out'), 'p')).echoed, 'p', 'no criteria match: the `{}` match sends plaintext');
  assert.notEqual(server.seen.at(-1)!.firstByte, TLS_HANDSHAKE);

  // The same host now says tlsMode: istio: the next connection starts a TLS handshake (the plain server cannot finish it).
  A.proxy.applyEndpoints([cla({ tlsMode: 'istio' })]);
  await roundTrip(port(A.proxy, 'out'), 'q', undefined, 3000);
  await waitFor(() => server.seen.length === 2, 3000, 'second connection');
  assert.equal(server.seen[1]!.firstByte, TLS_HANDSHAKE, 'tlsMode: istio selects the TLS transport');
});

test("upstream_bind_config binds the source address of upstream connections (Istio's 127.0.0.6); a fixed port, freebind or extra addresses are refused", async (t) => {
  const server = await plainServer(t, '127.0.0.1');
  const { proxy } = newProxy(t);
  proxy.applyClusters([
    staticCluster('bound', [{ port: server.port }], { upstreamBindConfig: { sourceAddress: { address: '127.0.0.6', portValue: 0 } } }),
  ]);
  await proxy.applyListeners([listener('out', 0, [{ filters: [tcpProxyFilter('bound')] }])]);
  assert.equal((await roundTrip(port(proxy, 'out'), 'b')).echoed, 'b');
  assert.equal(server.seen[0]!.remote, '127.0.0.6');

  const bad = (b: object) => () => proxy.applyClusters([staticCluster('bad', [{ port: 1 }], { upstreamBindConfig: b })]);
  assert.throws(bad({ sourceAddress: { address: '127.0.0.6', portValue: 4000 } }), /upstreamBindConfig\.sourceAddress\.portValue: only 0/);
  assert.throws(bad({ sourceAddress: { address: '127.0.0.6', portValue: 0 }, freebind: true }), /upstreamBindConfig\.freebind/);
  assert.throws(
    bad({ sourceAddress: { address: '127.0.0.6', portValue: 0 }, extraSourceAddresses: [{ address: { address: '::6', portValue: 0 } }] }),
    /extraSourceAddresses/,
  );
  assert.throws(bad({ sourceAddress: { address: 'localhost', portValue: 0 } }), /sourceAddress\.address: must be an IP address/);
  assert.throws(
    () => proxy.applyClusters([staticCluster('bad', [{ port: 1 }], { transportSocketMatches: [{ name: '', match: {} }] })]),
    /transportSocketMatches\[0\]\.name/,
  );
});
