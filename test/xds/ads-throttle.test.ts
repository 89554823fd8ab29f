// Push throttling (istiod's PILOT_PUSH_THROTTLE, by bytes): a response holds its share of the in-flight
// budget until the proxy answers it; others wait and then get the latest content. Real gRPC over TLS on 127.0.0.1.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { AdsClient } from '../../src/xds/client/ads-client.js';
import {
  ADS_METHOD_PATH,
  decodeDiscoveryResponse,
  encodeDiscoveryRequest,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../src/xds/discovery.js';
import { TypeUrl, type Cluster } from '../../src/envoy/envoy-types.js';
import { proxyNodeToMessage } from '../../src/xds/node-message.js';
import { snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import { startHarness, testNode, until, type Harness } from './harness.js';

const cluster = (name: string): Cluster => ({
  name,
  type: 'STATIC',
  connectTimeout: '1s',
  loadAssignment: { clusterName: name, endpoints: [] },
});
const resources = (names: string[]) => ({ listeners: [], clusters: names.map(cluster), endpoints: [], secrets: [] });

/** An ADS stream driven by hand (as default/sleep), so the test decides when — or whether — to ACK. */
async function rawStream(t: TestContext, h: Harness): Promise<grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>> {
  const client = new grpc.Client(h.address, grpc.credentials.createSsl(Buffer.from(h.rootPem)), {
    'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
  });
  t.after(() => client.close());
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${await h.tokens.mint({ namespace: 'default', serviceAccount: 'sleep', ttlSeconds: 600 })}`);
  const stream = client.makeBidiStreamRequest<DiscoveryRequest, DiscoveryResponse>(
    ADS_METHOD_PATH,
    encodeDiscoveryRequest,
    decodeDiscoveryResponse,
    md,
  );
  t.after(() => stream.cancel());
  stream.on('error', () => {
    // Cancelled at the end of the test.
  });
  return stream;
}

test('with a budget smaller than one response, a second proxy is answered only after the first ACKs; both see the same response once', async (t) => {
  const h = await startHarness({ maxInFlightBytes: 1, inFlightTimeoutMs: 60_000 });
  t.after(() => h.close());
  const a = testNode('a', 'default', 'sleep');
  const b = testNode('b', 'default', 'sleep', 'sidecar', '127.0.0.2');
  h.cache.setSnapshot(a.id, snapshotFromResources('1', resources(['c1', 'c2'])));
  h.cache.setSnapshot(b.id, snapshotFromResources('1', resources(['c1', 'c2'])));

  // Proxy a: a raw stream that asks for CDS and holds its answer unanswered.
  const stream = await rawStream(t, h);
  const got: DiscoveryResponse[] = [];
  stream.on('data', (r: DiscoveryResponse) => got.push(r));
  stream.write({ versionInfo: '', node: proxyNodeToMessage(a), resourceNames: [], typeUrl: TypeUrl.Cluster, responseNonce: '' });
  await until(() => got.length === 1, 'proxy a to get CDS');

  // Proxy b: a real client; its CDS waits for the budget.
  const seen: string[] = [];
  const pb = new AdsClient({
    address: h.address,
    rootCertPem: h.rootPem,
    node: b,
    credentials: async () => ({ token: await h.tokens.mint({ namespace: 'default', serviceAccount: 'sleep', ttlSeconds: 600 }) }),
    onResources: async (typeUrl, _res, version) => {
      seen.push(`${typeUrl}@${version}`);
    },
  });
  t.after(() => pb.close());
  pb.start();
  await until(
    () =>
      h.ads.connectionStatus().length === 2 &&
      h.ads.connectionStatus().some((c) => c.node.id === b.id && c.types[TypeUrl.Cluster] !== undefined),
    'proxy b to ask for CDS',
  );
  // The budget stays taken as long as a does not answer (the in-flight timeout is a minute away).
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    seen.filter((s) => s.startsWith(TypeUrl.Cluster)),
    [],
    'b got CDS while a held the whole budget',
  );

  const first = got[0]!;
  stream.write({ versionInfo: first.versionInfo, resourceNames: [], typeUrl: TypeUrl.Cluster, responseNonce: first.nonce });
  await until(() => seen.some((s) => s.startsWith(TypeUrl.Cluster)), 'b to get CDS after a ACKed');
  assert.deepEqual(
    seen.filter((s) => s.startsWith(TypeUrl.Cluster)),
    [`${TypeUrl.Cluster}@${first.versionInfo}`],
    'same content, same version',
  );
  assert.equal(got.length, 1, 'a was not sent its unchanged CDS again');
});

test('an unanswered response gives its budget back after the in-flight timeout', async (t) => {
  const h = await startHarness({ maxInFlightBytes: 1, inFlightTimeoutMs: 200 });
  t.after(() => h.close());
  const a = testNode('a', 'default', 'sleep');
  const b = testNode('b', 'default', 'sleep', 'sidecar', '127.0.0.2');
  for (const n of [a, b]) h.cache.setSnapshot(n.id, snapshotFromResources('1', resources(['c1'])));
  const stream = await rawStream(t, h);
  let aGot = 0;
  stream.on('data', () => aGot++);
  stream.write({ versionInfo: '', node: proxyNodeToMessage(a), resourceNames: [], typeUrl: TypeUrl.Cluster, responseNonce: '' });
  await until(() => aGot === 1, 'proxy a to get CDS');
  let bGot = 0;
  const pb = new AdsClient({
    address: h.address,
    rootCertPem: h.rootPem,
    node: b,
    credentials: async () => ({ token: await h.tokens.mint({ namespace: 'default', serviceAccount: 'sleep', ttlSeconds: 600 }) }),
    onResources: async (typeUrl) => {
      if (typeUrl === TypeUrl.Cluster) bGot++;
    },
  });
  t.after(() => pb.close());
  pb.start();
  await until(() => bGot === 1, 'b to get CDS once the response to a timed out');
});
