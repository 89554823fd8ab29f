// A node id belongs to the identity that first proved it: the binding table on its own (with a clock
// the test moves), then the ADS server refusing a second identity over real gRPC, TLS, tokens and
// workload certificates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdsClient, type AdsClientCredentials } from '../../src/xds/client/ads-client.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import type { Listener } from '../../src/envoy/envoy-types.js';
import { NodeIdentityBindings } from '../../src/xds/server/node-binding.js';
import { snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import type { ProxyNode } from '../../src/envoy/node.js';
import { jsonLogger } from '../../src/shared/log.js';
import { startHarness, testNode, until, waitFor, workloadCert, type Harness } from './harness.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const OTHER = 'spiffe://cluster.local/ns/default/sa/other';

test('binding table: held while streams are open and for the retention after; the oldest released binding goes first past the bound', () => {
  let now = 0;
  const b = new NodeIdentityBindings({ retentionMs: 1000, maxReleased: 2, now: () => now });
  assert.deepEqual(b.acquire('n1', SLEEP), { bound: true });
  assert.deepEqual(b.acquire('n1', SLEEP), { bound: true }, 'a second stream of the same identity');
  assert.deepEqual(b.acquire('n1', OTHER), { bound: false, owner: SLEEP });
  b.release('n1');
  assert.deepEqual(b.acquire('n1', OTHER), { bound: false, owner: SLEEP }, 'one stream still open');
  b.release('n1');
  now = 999;
  assert.deepEqual(b.acquire('n1', OTHER), { bound: false, owner: SLEEP }, 'within the retention after the last stream');
  now = 1000;
  assert.equal(b.owner('n1'), undefined, 'released after the retention');
  assert.deepEqual(b.acquire('n1', OTHER), { bound: true });
  b.release('n1');

  // Bounded: three released bindings with room for two — the oldest is forgotten.
  for (const id of ['a', 'b', 'c']) {
    assert.deepEqual(b.acquire(id, SLEEP), { bound: true });
    b.release(id);
  }
  assert.deepEqual(b.size(), { live: 0, released: 2 });
  assert.equal(b.owner('n1'), undefined);
  assert.equal(b.owner('a'), undefined);
  assert.equal(b.owner('b'), SLEEP);
  assert.equal(b.owner('c'), SLEEP);
  // A live binding is never dropped to make room.
  assert.deepEqual(b.acquire('live', SLEEP), { bound: true });
  for (const id of ['d', 'e', 'f']) {
    b.acquire(id, OTHER);
    b.release(id);
  }
  assert.equal(b.owner('live'), SLEEP);
  assert.deepEqual(b.size(), { live: 1, released: 2 });
});

const listener = (name: string, port: number): Listener => ({
  name,
  address: { socketAddress: { address: '127.0.0.1', portValue: port } },
  filterChains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.tcp_proxy',
          typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: name, cluster: 'BlackHoleCluster' },
        },
      ],
    },
  ],
});
const config = (version: string, ...ports: number[]) =>
  snapshotFromResources(version, {
    listeners: ports.map((p) => listener(`l_${p}`, p)),
    clusters: [{ name: 'BlackHoleCluster', type: 'STATIC', connectTimeout: '1s' }],
    endpoints: [],
    secrets: [],
  });

/** A proxy that records listener names per LDS response and the client's own log lines. */
class Proxy {
  readonly lds: string[][] = [];
  readonly logs: string[] = [];
  readonly client: AdsClient;
  constructor(h: Harness, node: ProxyNode, credentials: () => Promise<AdsClientCredentials>) {
    this.client = new AdsClient({
      address: h.address,
      rootCertPem: h.rootPem,
      node,
      credentials,
      backoff: { initialMs: 50, maxMs: 200 },
      logger: jsonLogger({ scope: 'proxy', write: (l) => this.logs.push(l) }),
      onResources: async (typeUrl, res) => {
        if (typeUrl === TypeUrl.Listener) this.lds.push((res as Listener[]).map((l) => l.name));
      },
    });
    this.client.start();
  }
}

const token = (h: Harness, ns: string, sa: string) => async (): Promise<AdsClientCredentials> => ({
  token: await h.tokens.mint({ namespace: ns, serviceAccount: sa, ttlSeconds: 600 }),
});

test("a second identity using a connected proxy's node id is refused PERMISSION_DENIED; the proxy keeps its stream and config", async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const victim = testNode('client', 'default', 'sleep');
  h.cache.setSnapshot(victim.id, config('1', 15001));
  const v = new Proxy(h, victim, token(h, 'default', 'sleep'));
  t.after(() => v.client.close());
  await until(() => v.lds.length === 1, "the proxy's listeners");

  // Same node id, its own (proven, matching) claims: another service account of the namespace, with a certificate.
  const attackerNode: ProxyNode = { ...victim, serviceAccount: 'other', labels: { app: 'attacker' } };
  const refused = waitFor<{ error: string; reason?: string }>(h.ads, 'unauthenticated');
  const cert = await workloadCert(h.ca, 'default', 'other');
  const a = new Proxy(h, attackerNode, async () => cert);
  t.after(() => a.client.close());
  const r = await refused;
  assert.equal(r.reason, 'node-id-bound');
  assert.equal(r.error, `node id ${victim.id} belongs to ${SLEEP}; ${OTHER} may not use it`);
  await until(() => a.logs.some((l) => l.includes('PERMISSION_DENIED: node id')), 'the attacker to see PERMISSION_DENIED');
  assert.deepEqual(a.lds, [], 'the attacker got nothing');
  const status = h.ads.connectionStatus();
  assert.deepEqual(
    status.map((s) => [s.node.id, s.peer.serviceAccount, s.node.labels]),
    [[victim.id, 'sleep', victim.labels]],
  );
  h.cache.setSnapshot(victim.id, config('2', 15001, 15002));
  await until(() => v.lds.length === 2, 'the proxy still receives its updates');
  assert.deepEqual(v.lds[1], ['l_15001', 'l_15002']);
});

test("the node id stays its owner's after the owner disconnects, for the retention only; the owner reconnects within it by token or by certificate", async (t) => {
  const h = await startHarness({ nodeBinding: { retentionMs: 1500 } });
  t.after(() => h.close());
  const victim = testNode('client', 'default', 'sleep');
  h.cache.setSnapshot(victim.id, config('1', 15001));
  const v1 = new Proxy(h, victim, token(h, 'default', 'sleep'));
  await until(() => v1.lds.length === 1, "the proxy's listeners");
  const gone = waitFor(h.ads, 'disconnected');
  await v1.client.close();
  await gone;

  const attackerNode: ProxyNode = { ...victim, serviceAccount: 'other' };
  const refusals: unknown[] = [];
  h.ads.on('unauthenticated', (e) => refusals.push(e));
  const a = new Proxy(h, attackerNode, token(h, 'default', 'other'));
  await until(() => refusals.length >= 1, 'the attacker to be refused while the owner is away');
  await a.client.close();

  // The owner comes back, proven by its certificate this time: the same SPIFFE identity.
  const cert = await workloadCert(h.ca, 'default', 'sleep');
  const v2 = new Proxy(h, victim, async () => cert);
  t.after(() => v2.client.close());
  await until(() => v2.lds.length === 1, 'the owner to reconnect');
  assert.equal(h.ads.connectionStatus()[0]!.peer.method, 'certificate');
  const gone2 = waitFor(h.ads, 'disconnected');
  await v2.client.close();
  await gone2;

  // Past the retention the id is free again: the binding is bounded in time.
  await new Promise((r) => setTimeout(r, 1700));
  const later = new Proxy(h, attackerNode, token(h, 'default', 'other'));
  t.after(() => later.client.close());
  await until(() => later.lds.length === 1, 'the id to be usable after the retention');
});
