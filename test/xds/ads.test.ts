// The ADS server and client against each other: real gRPC over TLS on 127.0.0.1, a real mesh CA,
// real workload certificates and tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdsClient, type AdsClientCredentials } from '../../src/xds/client/ads-client.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import type { Cluster, ClusterLoadAssignment, Listener, Secret } from '../../src/envoy/envoy-types.js';
import { snapshotFromResources, edsNamesOf, referencedSecrets } from '../../src/xds/snapshot-cache.js';
import type { ProxyNode } from '../../src/envoy/node.js';
import type { MeshCA } from '../../src/pki/mesh-ca.js';
import { startHarness, testNode, workloadCert, waitFor, until, type Harness } from './harness.js';

const cluster = (name: string): Cluster => ({
  name,
  type: 'EDS',
  edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
  connectTimeout: '1s',
});
const cla = (name: string, port: number): ClusterLoadAssignment => ({
  clusterName: name,
  endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port } } } }] }],
});
const listener = (name: string, port: number, clusterName: string, secret?: string): Listener => ({
  name,
  address: { socketAddress: { address: '127.0.0.1', portValue: port } },
  filterChains: [
    {
      filters: [
        { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: name, cluster: clusterName } },
      ],
      ...(secret
        ? {
            transportSocket: {
              name: 'envoy.transport_sockets.tls',
              typedConfig: {
                '@type': TypeUrl.DownstreamTlsContext,
                commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: secret, sdsConfig: { ads: {}, resourceApiVersion: 'V3' } }] },
              },
            },
          }
        : {}),
    },
  ],
});
const secret = (name: string, pem: string): Secret => ({
  name,
  tlsCertificate: { certificateChain: { inlineString: pem }, privateKey: { inlineString: 'key' } },
});

function resources(port: number, opts: { secretName?: string; secretPem?: string; extraListener?: Listener } = {}) {
  const listeners = [listener('0.0.0.0_3306', port, 'outbound|3306||db', opts.secretName)];
  if (opts.extraListener) listeners.push(opts.extraListener);
  return {
    listeners,
    clusters: [cluster('outbound|3306||db')],
    endpoints: [cla('outbound|3306||db', 13306)],
    secrets: opts.secretName ? [secret(opts.secretName, opts.secretPem ?? 'pem-1')] : [],
  };
}

/** What a proxy does: apply, then follow clusters with EDS names and listeners/clusters with SDS names. */
class RecordingProxy {
  readonly got = new Map<string, { version: string; resources: object[] }[]>();
  readonly client: AdsClient;
  rejectListener: string | undefined;
  constructor(
    h: Harness,
    readonly node: ProxyNode,
    credentials: () => Promise<AdsClientCredentials>,
    opts: { port?: number; protocol?: 'delta' | 'sotw' } = {},
  ) {
    this.client = new AdsClient({
      ...(opts.protocol ? { protocol: opts.protocol } : {}),
      address: opts.port ? `127.0.0.1:${opts.port}` : h.address,
      rootCertPem: h.rootPem,
      node,
      credentials,
      backoff: { initialMs: 50, maxMs: 300 },
      onResources: async (typeUrl, res, version) => {
        if (typeUrl === TypeUrl.Listener && this.rejectListener && res.some((l) => (l as Listener).name === this.rejectListener)) {
          throw new Error(`listener ${this.rejectListener}: address already in use`);
        }
        const list = this.got.get(typeUrl) ?? [];
        list.push({ version, resources: res });
        this.got.set(typeUrl, list);
        if (typeUrl === TypeUrl.Cluster) {
          this.client.setSubscription(TypeUrl.ClusterLoadAssignment, edsNamesOf(res));
          this.client.setSubscription(
            TypeUrl.Secret,
            res.flatMap((c) => referencedSecrets(TypeUrl.Cluster, c)),
          );
        }
        if (typeUrl === TypeUrl.Listener)
          this.client.setSubscription(
            TypeUrl.Secret,
            res.flatMap((l) => referencedSecrets(TypeUrl.Listener, l)),
          );
      },
    });
  }
  last(typeUrl: string): { version: string; resources: object[] } | undefined {
    const l = this.got.get(typeUrl);
    return l?.[l.length - 1];
  }
  count(typeUrl: string): number {
    return this.got.get(typeUrl)?.length ?? 0;
  }
}

async function tokenFor(h: Harness, ns: string, sa: string): Promise<() => Promise<AdsClientCredentials>> {
  return async () => ({ token: await h.tokens.mint({ namespace: ns, serviceAccount: sa, ttlSeconds: 600 }) });
}

for (const protocol of ['delta', 'sotw'] as const)
  test(`initial fetch over TLS with a token: CDS, EDS, LDS arrive and are ACKed (${protocol})`, async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    const node = testNode('client', 'default', 'sleep');
    h.cache.setSnapshot(node.id, snapshotFromResources('1', resources(15001)));
    const p = new RecordingProxy(h, node, await tokenFor(h, 'default', 'sleep'), { protocol });
    t.after(() => p.client.close());
    p.client.start();
    await until(() => p.count(TypeUrl.Listener) > 0 && p.count(TypeUrl.ClusterLoadAssignment) > 0, 'LDS and EDS');
    assert.deepEqual((p.last(TypeUrl.Cluster)!.resources[0] as Cluster).name, 'outbound|3306||db');
    assert.deepEqual(p.last(TypeUrl.ClusterLoadAssignment)!.resources, [cla('outbound|3306||db', 13306)]);
    await until(() => {
      const s = h.ads.connectionStatus()[0];
      return (
        !!s &&
        [TypeUrl.Cluster, TypeUrl.Listener, TypeUrl.ClusterLoadAssignment].every(
          (ty) => s.types[ty]?.ackedVersion !== undefined && s.types[ty]?.ackedVersion === s.types[ty]?.sentVersion,
        )
      );
    }, 'server to see every type ACKed');
    const status = h.ads.connectionStatus()[0]!;
    assert.equal(status.node.id, node.id);
    assert.equal(status.peer.method, 'token');
    assert.equal(status.types[TypeUrl.Cluster]!.ackedVersion, p.last(TypeUrl.Cluster)!.version);
  });

for (const protocol of ['delta', 'sotw'] as const)
  test(`a NACK is logged with the proxy error, the proxy keeps its last good config, and the next good version is pushed (${protocol})`, async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    const node = testNode('client', 'default', 'sleep');
    h.cache.setSnapshot(node.id, snapshotFromResources('1', resources(15001)));
    const p = new RecordingProxy(h, node, await tokenFor(h, 'default', 'sleep'), { protocol });
    t.after(() => p.client.close());
    p.client.start();
    await until(() => p.count(TypeUrl.Listener) === 1, 'first LDS');
    const good = p.last(TypeUrl.Listener)!.version;
    p.rejectListener = 'broken';
    const nack = waitFor<{ typeUrl: string; errorDetail: { message: string } }>(h.ads, 'nack');
    h.cache.setSnapshot(
      node.id,
      snapshotFromResources('2', resources(15001, { extraListener: listener('broken', 15002, 'outbound|3306||db') })),
    );
    const n = await nack;
    assert.equal(n.typeUrl, TypeUrl.Listener);
    assert.match(n.errorDetail.message, /listener broken: address already in use/);
    assert.equal(p.count(TypeUrl.Listener), 1, 'the rejected listeners were not applied');
    assert.equal(p.client.status()[TypeUrl.Listener]!.ackedVersion, good);
    const st = h.ads.connectionStatus()[0]!.types[TypeUrl.Listener]!;
    assert.equal(st.ackedVersion, good);
    assert.notEqual(st.nackedVersion, undefined);
    assert.match(st.lastError!, /address already in use/);
    p.rejectListener = undefined;
    h.cache.setSnapshot(
      node.id,
      snapshotFromResources('3', resources(15001, { extraListener: listener('fixed', 15003, 'outbound|3306||db') })),
    );
    await until(() => p.count(TypeUrl.Listener) === 2, 'the next good LDS');
    assert.deepEqual(
      p.last(TypeUrl.Listener)!.resources.map((l) => (l as Listener).name),
      ['0.0.0.0_3306', 'fixed'],
    );
  });

test('a config change pushes a new version only to the proxies whose resources changed', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const a = testNode('a', 'default', 'sleep', 'sidecar', '127.0.0.2');
  const b = testNode('b', 'default', 'sleep', 'sidecar', '127.0.0.3');
  h.cache.setSnapshot(a.id, snapshotFromResources('1', resources(15001)));
  h.cache.setSnapshot(b.id, snapshotFromResources('1', resources(15001)));
  const pa = new RecordingProxy(h, a, await tokenFor(h, 'default', 'sleep'));
  const pb = new RecordingProxy(h, b, await tokenFor(h, 'default', 'sleep'));
  t.after(() => Promise.all([pa.client.close(), pb.client.close()]));
  pa.client.start();
  pb.client.start();
  await until(() => pa.count(TypeUrl.ClusterLoadAssignment) === 1 && pb.count(TypeUrl.ClusterLoadAssignment) === 1, 'both proxies synced');
  const pushes: { node: ProxyNode; typeUrl: string }[] = [];
  h.ads.on('push', (e: { node: ProxyNode; typeUrl: string }) => pushes.push(e));
  // Same content under a new snapshot version: nothing to push to anyone.
  h.cache.setSnapshot(b.id, snapshotFromResources('2', resources(15001)));
  // A's endpoints change: only A's EDS is pushed.
  const changed = resources(15001);
  changed.endpoints = [cla('outbound|3306||db', 23306)];
  h.cache.setSnapshot(a.id, snapshotFromResources('2', changed));
  await until(() => pa.count(TypeUrl.ClusterLoadAssignment) === 2, 'A receives the new endpoints');
  await until(
    () => h.ads.connectionStatus().every((s) => Object.values(s.types).every((ty) => ty.ackedVersion === ty.sentVersion)),
    'everything ACKed',
  );
  assert.deepEqual(
    pushes.map((e) => [e.node.id, e.typeUrl]),
    [[a.id, TypeUrl.ClusterLoadAssignment]],
  );
  assert.equal(pb.count(TypeUrl.ClusterLoadAssignment), 1);
  assert.equal(pa.count(TypeUrl.Listener), 1, 'unchanged listeners are not re-sent');
});

test('a secret reaches only the proxy allowed to have it; a changed secret is pushed to it alone; other types are not asked about', async (t) => {
  const GW_SA = 'istio-egressgateway-service-account';
  const asked = new Set<string>();
  const h = await startHarness({
    authorizeResource: (node, peer, typeUrl, name) => {
      asked.add(typeUrl);
      return peer.namespace === 'istio-system' && node.role === 'router' && name.startsWith('kubernetes://');
    },
    authorizedTypes: [TypeUrl.Secret],
  });
  t.after(() => h.close());
  const gw = testNode('istio-egressgateway-0', 'istio-system', GW_SA, 'router', '127.0.0.4');
  const intruder = testNode('sleep', 'default', 'sleep', 'sidecar', '127.0.0.5');
  const withSecret = (pem: string) =>
    snapshotFromResources('1', resources(15443, { secretName: 'kubernetes://client-credential', secretPem: pem }));
  h.cache.setSnapshot(gw.id, withSecret('pem-1'));
  h.cache.setSnapshot(intruder.id, withSecret('pem-1'));
  const pg = new RecordingProxy(h, gw, await tokenFor(h, 'istio-system', GW_SA));
  const pi = new RecordingProxy(h, intruder, await tokenFor(h, 'default', 'sleep'));
  t.after(() => Promise.all([pg.client.close(), pi.client.close()]));
  const denied = waitFor<{ node: ProxyNode; name: string }>(h.ads, 'denied');
  pg.client.start();
  pi.client.start();
  await until(() => pg.count(TypeUrl.Secret) === 1, 'the gateway receives its credential');
  const d = await denied;
  assert.equal(d.node.id, intruder.id);
  assert.equal(d.name, 'kubernetes://client-credential');
  assert.equal((pg.last(TypeUrl.Secret)!.resources[0] as Secret).tlsCertificate!.certificateChain!.inlineString, 'pem-1');
  h.cache.setSnapshot(gw.id, withSecret('pem-2'));
  h.cache.setSnapshot(intruder.id, withSecret('pem-2'));
  await until(() => pg.count(TypeUrl.Secret) === 2, 'the rotated credential reaches the gateway');
  assert.equal((pg.last(TypeUrl.Secret)!.resources[0] as Secret).tlsCertificate!.certificateChain!.inlineString, 'pem-2');
  assert.equal(pi.count(TypeUrl.Secret), 0, 'the sidecar never received the gateway credential');
  assert.equal(pi.count(TypeUrl.Listener), 1);
  assert.deepEqual([...asked], [TypeUrl.Secret], 'clusters and listeners go out without asking the authorizer');
});

test('a secret name the proxy may never have is withheld and reported once even while it does not exist; an allowed missing one just waits', async (t) => {
  const h = await startHarness({
    authorizeResource: (_node, _peer, _typeUrl, name) => name.startsWith('kubernetes://own'),
    authorizedTypes: [TypeUrl.Secret],
  });
  t.after(() => h.close());
  const node = testNode('gw', 'istio-system', 'gw', 'router');
  h.cache.setSnapshot(node.id, snapshotFromResources('1', resources(15443)));
  const p = new RecordingProxy(h, node, await tokenFor(h, 'istio-system', 'gw'));
  t.after(() => p.client.close());
  const denied: { name: string }[] = [];
  h.ads.on('denied', (e: { name: string }) => denied.push(e));
  p.client.start();
  await until(() => p.count(TypeUrl.Listener) === 1, 'LDS');
  p.client.setSubscription(TypeUrl.Secret, ['kubernetes://own-missing', 'kubernetes://someone-else']);
  await until(() => denied.length === 1, 'the foreign name to be withheld');
  assert.deepEqual(
    denied.map((d) => d.name),
    ['kubernetes://someone-else'],
  );
  // Every later answer on the stream checks again; the report stays one per name.
  h.cache.setSnapshot(
    node.id,
    snapshotFromResources('2', resources(15443, { extraListener: listener('more', 15444, 'outbound|3306||db') })),
  );
  await until(() => p.count(TypeUrl.Listener) === 2, 'a second LDS');
  p.client.setSubscription(TypeUrl.Secret, ['kubernetes://own-missing', 'kubernetes://someone-else']);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(denied.length, 1);
  assert.equal(p.count(TypeUrl.Secret), 0);
});

async function refusal(h: Harness, node: ProxyNode, credentials: () => Promise<AdsClientCredentials>): Promise<string> {
  const refused = waitFor<{ error: string }>(h.ads, 'unauthenticated');
  const p = new RecordingProxy(h, node, credentials);
  try {
    p.client.start();
    const r = await refused;
    assert.equal(p.count(TypeUrl.Cluster), 0);
    return r.error;
  } finally {
    await p.client.close();
  }
}

test('refuses a client with no credentials, a certificate from another CA, a bad token, or a node claiming another identity', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const node = testNode('client', 'default', 'sleep');
  h.cache.setSnapshot(node.id, snapshotFromResources('1', resources(15001)));
  assert.match(await refusal(h, node, async () => ({})), /no client certificate .* and no bearer token/);
  const other = await startHarness();
  await other.close();
  const foreign = await workloadCert(other.ca as MeshCA, 'default', 'sleep');
  assert.match(await refusal(h, node, async () => foreign), /no client certificate/);
  const otherTokens = other.tokens;
  assert.match(
    await refusal(h, node, async () => ({
      token: await otherTokens.mint({ namespace: 'default', serviceAccount: 'sleep', ttlSeconds: 600 }),
    })),
    /token rejected/,
  );
  assert.match(
    await refusal(h, node, await tokenFor(h, 'default', 'other-sa')),
    /claims default\/sleep but authenticated as default\/other-sa/,
  );
});

test('a workload certificate from the mesh CA authenticates the stream', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const node = testNode('client', 'default', 'sleep');
  h.cache.setSnapshot(node.id, snapshotFromResources('1', resources(15001)));
  const cert = await workloadCert(h.ca, 'default', 'sleep');
  const p = new RecordingProxy(h, node, async () => cert);
  t.after(() => p.client.close());
  p.client.start();
  await until(() => p.count(TypeUrl.Listener) === 1, 'LDS over a certificate-authenticated stream');
  assert.equal(h.ads.connectionStatus()[0]!.peer.method, 'certificate');
  assert.equal(h.ads.connectionStatus()[0]!.peer.spiffeId, 'spiffe://cluster.local/ns/default/sa/sleep');
});

for (const protocol of ['delta', 'sotw'] as const)
  test(`after the control plane restarts the client reconnects, resends what it holds, and is not re-sent unchanged config (${protocol})`, async (t) => {
    const h1 = await startHarness();
    const port = Number(h1.address.split(':')[1]);
    const node = testNode('client', 'default', 'sleep');
    h1.cache.setSnapshot(node.id, snapshotFromResources('1', resources(15001)));
    const p = new RecordingProxy(h1, node, await tokenFor(h1, 'default', 'sleep'), { port, protocol });
    const later: Harness[] = [];
    t.after(async () => {
      await p.client.close();
      await h1.close();
      for (const h of later) await h.close();
    });
    p.client.start();
    await until(
      () => p.count(TypeUrl.ClusterLoadAssignment) === 1 && p.client.status()[TypeUrl.ClusterLoadAssignment]!.ackedVersion !== '',
      'initial sync',
    );
    const disconnected = waitFor(p.client, 'disconnected');
    await h1.close();
    await disconnected;
    assert.equal(p.count(TypeUrl.Listener), 1, 'config kept while disconnected');
    const h2 = await startHarness({ port, ca: h1.ca, tokens: h1.tokens });
    later.push(h2);
    h2.cache.setSnapshot(node.id, snapshotFromResources('1', resources(15001)));
    await waitFor(h2.ads, 'connected', () => true, 15_000);
    await until(() => {
      const s = h2.ads.connectionStatus()[0];
      return (
        !!s && [TypeUrl.Cluster, TypeUrl.Listener, TypeUrl.ClusterLoadAssignment].every((ty) => s.types[ty]?.sentVersion !== undefined)
      );
    }, 'the new server to learn what the proxy holds');
    assert.equal(p.count(TypeUrl.Cluster), 1, 'unchanged clusters not re-sent after reconnect');
    assert.equal(p.count(TypeUrl.Listener), 1, 'unchanged listeners not re-sent after reconnect');
    const changed = resources(15001);
    changed.endpoints = [cla('outbound|3306||db', 33306)];
    h2.cache.setSnapshot(node.id, snapshotFromResources('2', changed));
    await until(() => p.count(TypeUrl.ClusterLoadAssignment) === 2, 'a change after reconnect is pushed');
  });

test('a proxy that goes away leaves the server: disconnected is emitted and it is no longer listed', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const node = testNode('client', 'default', 'sleep');
  h.cache.setSnapshot(node.id, snapshotFromResources('1', resources(15001)));
  const p = new RecordingProxy(h, node, await tokenFor(h, 'default', 'sleep'));
  t.after(() => p.client.close());
  p.client.start();
  await until(() => p.count(TypeUrl.Listener) === 1, 'LDS');
  assert.equal(h.ads.connectionStatus().length, 1);
  const gone = waitFor<{ node: ProxyNode }>(h.ads, 'disconnected');
  await p.client.close();
  assert.equal((await gone).node.id, node.id);
  assert.deepEqual(h.ads.connectionStatus(), []);
});
