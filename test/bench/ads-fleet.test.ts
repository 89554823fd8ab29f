// The control-plane benchmark's light ADS clients against a real ADS server (src/xds) over TLS with
// tokens, incremental and state of the world: every client gets CDS, asks for and gets EDS for the EDS cluster, gets LDS, ACKs each, and
// sees a changed cluster version.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { AdsFleet, benchNode, clusterNameAndType } from '../../bench/controlplane/ads-fleet.js';
import { MeshCA } from '../../src/pki/mesh-ca.js';
import { TokenIssuer, TokenVerifier } from '../../src/pki/workload-token.js';
import { AdsServer } from '../../src/xds/server/ads-server.js';
import { encodeResource } from '../../src/xds/codec.js';
import { TypeUrl, type Cluster, type Listener, type ProxyResources } from '../../src/envoy/envoy-types.js';
import { makeAuthenticator } from '../../src/xds/peer-identity.js';
import { createXdsServerCredentials } from '../../src/xds/server-credentials.js';
import { SnapshotCache, snapshotFromResources } from '../../src/xds/snapshot-cache.js';

const ISSUER = 'https://kubernetes.default.svc/bench-test';
const CLUSTER = 'outbound|3306||svc-0000.bench.example';

function resources(connectTimeout: string): ProxyResources {
  const cluster = {
    name: CLUSTER,
    type: 'EDS',
    connectTimeout,
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' }, serviceName: CLUSTER },
  } as unknown as Cluster;
  const listener = {
    name: '0.0.0.0_3306',
    address: { socketAddress: { address: '0.0.0.0', portValue: 3306 } },
    filterChains: [
      {
        filters: [
          { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: CLUSTER, cluster: CLUSTER } },
        ],
      },
    ],
  } as unknown as Listener;
  const cla = {
    clusterName: CLUSTER,
    endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: 3306 } } } }] }],
  };
  return { clusters: [cluster], listeners: [listener], endpoints: [cla], secrets: [] } as unknown as ProxyResources;
}

describe('light ADS fleet', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('reads a Cluster name and EDS type without decoding the rest', () => {
    const bytes = encodeResource(TypeUrl.Cluster, resources('1s').clusters[0]!);
    assert.deepEqual(clusterNameAndType(bytes), { name: CLUSTER, eds: true });
  });

  for (const protocol of ['delta', 'sotw'] as const)
    it(`subscribes like Envoy, ACKs every response and sees a change reach every client (${protocol})`, async () => {
      const ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local' });
      const tokens = await TokenIssuer.create(ISSUER);
      const verifier = new TokenVerifier([tokens.publicKeyPem()], { issuer: ISSUER });
      const cache = new SnapshotCache();
      const ads = new AdsServer({
        cache,
        authenticate: makeAuthenticator({ trustDomains: ['cluster.local'], verifyToken: (t) => verifier.verify(t) }),
      });
      const server = new grpc.Server();
      ads.addToServer(server);
      const serving = await ca.issueServingCertificate(['istiod.istio-system.svc'], 3600);
      const creds = createXdsServerCredentials({ rootPem: ca.rootBundlePem(), ...serving });
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', creds.credentials, (err, p) => (err ? reject(err) : resolve(p))),
      );
      cleanups.push(async () => {
        ads.closeAllStreams();
        await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      });

      const count = 12;
      const nodes = Array.from({ length: count }, (_, i) => benchNode(i, 'bench', 3));
      for (const n of nodes) cache.setSnapshot(n.id, snapshotFromResources('v1', resources('1s')));
      const fleet = new AdsFleet({
        address: `127.0.0.1:${port}`,
        rootCertPem: ca.rootBundlePem(),
        serverName: 'istiod.istio-system.svc',
        count,
        token: (i) => tokens.mint({ namespace: nodes[i]!.namespace, serviceAccount: nodes[i]!.serviceAccount, ttlSeconds: 600 }),
        node: (i) => nodes[i]!,
        protocol,
      });
      cleanups.push(() => fleet.close());
      await fleet.connect();
      for (let i = 0; i < 200 && fleet.fullyPushed() < count; i++) await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual(fleet.errors(), []);
      assert.equal(fleet.fullyPushed(), count, 'every client got CDS, EDS and LDS');
      assert.ok(
        fleet.states.every((s) => [...s.edsNames].join() === CLUSTER),
        'every client asked for the EDS cluster CDS named',
      );

      // The server saw every type ACKed at the version it sent (the clients ACK, not NACK).
      const types = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener];
      const ackedAll = (c: ReturnType<typeof ads.connectionStatus>[number]): boolean =>
        types.every(
          (t) =>
            c.types[t]?.sentVersion !== undefined && c.types[t]?.ackedVersion === c.types[t]?.sentVersion && !c.types[t]?.nackedVersion,
        );
      for (let i = 0; i < 100; i++) {
        const acked = ads.connectionStatus().filter(ackedAll);
        if (acked.length === count) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      const statuses = ads.connectionStatus();
      assert.equal(statuses.length, count);
      for (const c of statuses) assert.ok(ackedAll(c), `${c.node.id} ACKed what it was sent: ${JSON.stringify(c.types)}`);

      const t0 = performance.now();
      for (const n of nodes) cache.setSnapshot(n.id, snapshotFromResources('v2', resources('2s')));
      for (let i = 0; i < 200 && fleet.cdsChangedSince(t0).count < count; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(fleet.cdsChangedSince(t0).count, count, 'the changed cluster reached every client');
    });
});
