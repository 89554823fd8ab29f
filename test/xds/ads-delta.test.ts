// Incremental xDS (DeltaAggregatedResources) against the real server over TLS on 127.0.0.1: a proxy
// gets only what changed, with removals named; a NACK leaves the proxy's state where it was; a proxy
// reconnecting with what it holds gets nothing it already has; named subscriptions follow subscribe
// and unsubscribe.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  DELTA_ADS_METHOD_PATH,
  decodeDeltaResponse,
  encodeDeltaRequest,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
} from '../../src/xds/delta-discovery.js';
import { decodeResource } from '../../src/xds/codec.js';
import { TypeUrl, type Cluster, type ClusterLoadAssignment } from '../../src/envoy/envoy-types.js';
import { proxyNodeToMessage } from '../../src/xds/node-message.js';
import type { ProxyNode } from '../../src/envoy/node.js';
import { contentVersion } from '../../src/xds/content-version.js';
import { snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import { startHarness, testNode, until, type Harness } from './harness.js';

const cluster = (name: string, timeout = '1s'): Cluster => ({
  name,
  type: 'EDS',
  edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
  connectTimeout: timeout,
});
const cla = (name: string, port: number): ClusterLoadAssignment => ({
  clusterName: name,
  endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port } } } }] }],
});
const snap = (version: string, clusters: Cluster[], port = 13306) =>
  snapshotFromResources(version, { listeners: [], clusters, endpoints: clusters.map((c) => cla(c.name, port)), secrets: [] });

interface DeltaStream {
  got: DeltaDiscoveryResponse[];
  send(r: Partial<DeltaDiscoveryRequest> & { typeUrl: string }): void;
  ack(r: DeltaDiscoveryResponse, error?: string): void;
}

async function open(t: TestContext, h: Harness, node: ProxyNode): Promise<DeltaStream> {
  const client = new grpc.Client(h.address, grpc.credentials.createSsl(Buffer.from(h.rootPem)), {
    'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
  });
  t.after(() => client.close());
  const md = new grpc.Metadata();
  md.set(
    'authorization',
    `Bearer ${await h.tokens.mint({ namespace: node.namespace, serviceAccount: node.serviceAccount, ttlSeconds: 600 })}`,
  );
  const call = client.makeBidiStreamRequest<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(
    DELTA_ADS_METHOD_PATH,
    encodeDeltaRequest,
    decodeDeltaResponse,
    md,
  );
  t.after(() => call.cancel());
  call.on('error', () => {
    // Cancelled at the end of the test.
  });
  const got: DeltaDiscoveryResponse[] = [];
  call.on('data', (r: DeltaDiscoveryResponse) => got.push(r));
  let first = true;
  const send = (r: Partial<DeltaDiscoveryRequest> & { typeUrl: string }): void => {
    call.write({
      resourceNamesSubscribe: [],
      resourceNamesUnsubscribe: [],
      initialResourceVersions: {},
      responseNonce: '',
      ...(first ? { node: proxyNodeToMessage(node) } : {}),
      ...r,
    });
    first = false;
  };
  return {
    got,
    send,
    ack: (r, error) => send({ typeUrl: r.typeUrl, responseNonce: r.nonce, ...(error ? { errorDetail: { code: 3, message: error } } : {}) }),
  };
}

const names = (r: DeltaDiscoveryResponse): string[] => r.resources.map((x) => x.name);

test('delta CDS: the whole set first, then only what changed, with removals named; a NACK keeps the proxy where it was', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const node = testNode('client', 'default', 'sleep');
  h.cache.setSnapshot(node.id, snap('1', [cluster('a'), cluster('b'), cluster('c')]));
  const s = await open(t, h, node);
  s.send({ typeUrl: TypeUrl.Cluster });
  await until(() => s.got.length === 1, 'first CDS');
  const r1 = s.got[0]!;
  assert.deepEqual(names(r1), ['a', 'b', 'c']);
  assert.deepEqual(r1.removedResources, []);
  assert.equal(decodeResource(TypeUrl.Cluster, r1.resources[0]!.value).name, 'a');
  s.ack(r1);

  // b changes, c goes, d comes: only b and d are sent, c is named as removed.
  h.cache.setSnapshot(node.id, snap('2', [cluster('a'), cluster('b', '2s'), cluster('d')]));
  await until(() => s.got.length === 2, 'the delta');
  const r2 = s.got[1]!;
  assert.deepEqual(names(r2), ['b', 'd']);
  assert.deepEqual(r2.removedResources, ['c']);
  assert.notEqual(r2.systemVersionInfo, r1.systemVersionInfo);
  assert.notEqual(r2.resources[0]!.version, r1.resources[1]!.version, 'b has a new version');

  // The proxy refuses the next change; the server keeps its state at r2 and does not resend it.
  h.cache.setSnapshot(node.id, snap('3', [cluster('a', '3s'), cluster('b', '2s'), cluster('d')]));
  await until(() => s.got.length === 3, 'the change to a');
  const nack = new Promise((resolve) => h.ads.once('nack', resolve));
  s.ack(s.got[2]!, 'cluster a: refused');
  await nack;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(s.got.length, 3, 'the refused content is not sent again');
  // The next content is diffed from what the proxy kept (r2), so a's change is sent again with e.
  h.cache.setSnapshot(node.id, snap('4', [cluster('a', '3s'), cluster('b', '2s'), cluster('d'), cluster('e')]));
  await until(() => s.got.length === 4, 'the next change');
  assert.deepEqual(names(s.got[3]!), ['a', 'e']);
});

test('delta: a proxy reconnecting with what it holds is sent only the difference; EDS follows subscribe and unsubscribe', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const node = testNode('client', 'default', 'sleep');
  h.cache.setSnapshot(node.id, snap('1', [cluster('a'), cluster('b')]));
  const s1 = await open(t, h, node);
  s1.send({ typeUrl: TypeUrl.Cluster });
  await until(() => s1.got.length === 1, 'first CDS');
  const held = Object.fromEntries(s1.got[0]!.resources.map((r) => [r.name, r.version]));

  const s2 = await open(t, h, node);
  // It holds a and b at the current versions and a stale x: only x's removal is news.
  s2.send({ typeUrl: TypeUrl.Cluster, initialResourceVersions: { ...held, x: 'old' } });
  await until(() => s2.got.length === 1, 'CDS after reconnect');
  assert.deepEqual(names(s2.got[0]!), []);
  assert.deepEqual(s2.got[0]!.removedResources, ['x']);
  s2.ack(s2.got[0]!);

  s2.send({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNamesSubscribe: ['a'] });
  await until(() => s2.got.length === 2, 'EDS for a');
  assert.deepEqual(names(s2.got[1]!), ['a']);
  s2.ack(s2.got[1]!);
  s2.send({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNamesSubscribe: ['b'], resourceNamesUnsubscribe: ['a'] });
  await until(() => s2.got.length === 3, 'EDS for b');
  assert.deepEqual(names(s2.got[2]!), ['b']);
  assert.deepEqual(s2.got[2]!.removedResources, [], 'an unsubscribed name is not reported removed');
  s2.ack(s2.got[2]!);
  // An endpoint change for a (no longer subscribed) and b: only b's is sent.
  h.cache.setSnapshot(node.id, snap('2', [cluster('a'), cluster('b')], 23306));
  await until(() => s2.got.length === 4, 'EDS change');
  assert.deepEqual(names(s2.got[3]!), ['b']);
  const status = h.ads.connectionStatus().find((c) => c.types[TypeUrl.ClusterLoadAssignment])!;
  assert.deepEqual(status.types[TypeUrl.ClusterLoadAssignment]!.names, ['b']);
});

test('delta: after a NACK, config going back to what the proxy kept leaves it in sync without a push', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const node = testNode('client', 'default', 'sleep');
  const good = snap('1', [cluster('a')]);
  h.cache.setSnapshot(node.id, good);
  const s = await open(t, h, node);
  s.send({ typeUrl: TypeUrl.Cluster });
  await until(() => s.got.length === 1, 'first CDS');
  s.ack(s.got[0]!);
  const acked = s.got[0]!.systemVersionInfo;
  await until(() => h.ads.connectionStatus()[0]?.types[TypeUrl.Cluster]?.ackedVersion === acked, 'the ACK');
  h.cache.setSnapshot(node.id, snap('2', [cluster('a', '9s')]));
  await until(() => s.got.length === 2, 'the bad change');
  const nack = new Promise((resolve) => h.ads.once('nack', resolve));
  s.ack(s.got[1]!, 'refused');
  await nack;
  h.cache.setSnapshot(node.id, snap('3', [cluster('a')]));
  await until(() => {
    const st = h.ads.connectionStatus()[0]?.types[TypeUrl.Cluster];
    return st?.sentVersion === acked && st.ackedVersion === acked && st.nackedVersion === undefined;
  }, 'the stream to read as in sync at the kept version');
  assert.equal(s.got.length, 2, 'nothing was sent: the proxy already holds it');
});

test(
  'delta: a difference larger than the response budget goes out in pieces; the last ACK answers it, a NACK of an earlier piece refuses it',
  { timeout: 30_000 },
  async (t) => {
    const h = await startHarness({ maxDeltaResponseBytes: 400 });
    t.after(() => h.close());
    const node = testNode('client', 'default', 'sleep');
    const all = (timeout: string, count = 8): Cluster[] =>
      Array.from({ length: count }, (_, i) => cluster(`outbound|3306||svc-${i}.default.svc.cluster.local`, timeout));
    h.cache.setSnapshot(node.id, snap('1', all('1s')));
    const s = await open(t, h, node);
    s.send({ typeUrl: TypeUrl.Cluster });
    const received = (from: number): string[] => s.got.slice(from).flatMap(names);
    await until(() => received(0).length === 8, 'every cluster');
    const first = s.got.slice();
    assert.ok(first.length > 1, `several pieces (got ${first.length})`);
    assert.deepEqual(
      received(0),
      all('1s')
        .map((c) => c.name)
        .sort(),
      'in name order, each once',
    );
    assert.equal(new Set(first.map((r) => r.nonce)).size, first.length, 'a nonce per piece');
    assert.equal(new Set(first.map((r) => r.systemVersionInfo)).size, 1, 'every piece reports the version of the whole');
    // What a client holds after the last piece hashes to that version (how it knows it has everything).
    const held = first
      .flatMap((r) => r.resources)
      .map((r) => ({ name: r.name, hash: r.version }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.equal(contentVersion(TypeUrl.Cluster, held), first[0]!.systemVersionInfo);

    const status = (): { ackedVersion?: string; sentVersion?: string; nackedVersion?: string } =>
      h.ads.connectionStatus()[0]!.types[TypeUrl.Cluster]!;
    for (const r of first.slice(0, -1)) s.ack(r);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(status().ackedVersion, undefined, 'earlier pieces ACKed: the response is not yet');
    s.ack(first[first.length - 1]!);
    await until(() => status().ackedVersion === first[0]!.systemVersionInfo, 'the last piece ACKed');

    // Every cluster changes and one goes: the removal rides on the last piece. The proxy refuses the first piece.
    h.cache.setSnapshot(node.id, snap('2', all('2s', 7)));
    await until(() => received(first.length).length === 7, 'the changed clusters');
    const second = s.got.slice(first.length);
    assert.ok(second.length > 1);
    assert.deepEqual(
      second.slice(0, -1).flatMap((r) => r.removedResources),
      [],
    );
    assert.deepEqual(second[second.length - 1]!.removedResources, ['outbound|3306||svc-7.default.svc.cluster.local']);
    const nack = new Promise((resolve) => h.ads.once('nack', resolve));
    s.ack(second[0]!, 'cluster svc-0: refused');
    await nack;
    for (const r of second.slice(1)) s.ack(r);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(status().nackedVersion, second[0]!.systemVersionInfo);
    assert.equal(
      status().ackedVersion,
      first[0]!.systemVersionInfo,
      "the later pieces' ACKs do not count: the proxy runs the first version",
    );

    // The next change is diffed from what the proxy kept: every cluster is sent again, and svc-7 removed.
    h.cache.setSnapshot(node.id, snap('3', all('3s', 7)));
    const from = s.got.length;
    await until(() => received(from).length === 7, 'the next change, in full');
    assert.deepEqual(s.got[s.got.length - 1]!.removedResources, ['outbound|3306||svc-7.default.svc.cluster.local']);
  },
);
