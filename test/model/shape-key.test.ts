// proxyShapeKey: proxies with the same key must get the same resources, because the control plane
// generates once per key. Guarded two ways: the model may read only the node fields the key covers, and
// proxies that differ only in what the key leaves out get deep-equal output.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateProxyResources, proxyShapeKey } from '../../src/model/generate.js';
import { buildNameTable } from '../../src/model/name-table.js';
import type { ConfigSnapshot } from '../../src/config/types.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';
import { clientSidecar, clusterA, clusterB, egressGateway, ingressGateway, serverSidecar } from './fixtures.js';

/** The node fields proxyShapeKey covers (podName through the pod it names, ips where the model binds them). */
const COVERED = new Set([
  'role',
  'namespace',
  'serviceAccount',
  'labels',
  'interceptionMode',
  'workloadPorts',
  'ips',
  'podName',
  'clusterId',
]);

function recording(node: ProxyNode, read: Set<string>): ProxyNode {
  return new Proxy(node, {
    get(target, prop, receiver) {
      if (typeof prop === 'string') read.add(prop);
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

async function seedProxies(): Promise<[ConfigSnapshot, ProxyNode][]> {
  const [a, b] = [await clusterA(), await clusterB()];
  return [
    [a, clientSidecar],
    [a, egressGateway],
    [b, ingressGateway],
    [b, serverSidecar],
  ];
}

test('the model reads only the node fields the shape key covers', async () => {
  for (const [snap, node] of await seedProxies()) {
    const read = new Set<string>();
    const n = recording(node, read);
    generateProxyResources(snap, n);
    buildNameTable(snap, n);
    const uncovered = [...read].filter((f) => !COVERED.has(f));
    assert.deepEqual(
      uncovered,
      [],
      `${node.id}: the model read ${uncovered.join(', ')}, which proxyShapeKey does not cover; add it to the key (and to COVERED)`,
    );
  }
});

test('sidecars that differ only in id, pod name of an unknown pod, address, cluster and version share a key and get equal resources', async () => {
  const snap = await clusterA();
  const other = (n: ProxyNode): ProxyNode => {
    const base = { ...n, ips: ['10.9.9.9'], podName: 'client-other-7d9f' };
    return { ...base, id: formatNodeId(base), clusterId: 'elsewhere', version: '9.9' };
  };
  // The seed's client pod is in the snapshot; a replica of it (another pod name, same spec) is not, so
  // compare two replicas that are both absent from the snapshot.
  const replica1 = other({ ...clientSidecar, podName: 'r1' });
  const replica2 = other({ ...clientSidecar, podName: 'r2' });
  assert.equal(proxyShapeKey(snap, replica1), proxyShapeKey(snap, replica2));
  assert.deepEqual(generateProxyResources(snap, replica1), generateProxyResources(snap, replica2));
  assert.deepEqual(buildNameTable(snap, replica1), buildNameTable(snap, replica2));
});

test('what changes the output changes the key: namespace, role, capture mode, and the address without capture', async () => {
  const snap = await clusterA();
  const base = proxyShapeKey(snap, clientSidecar);
  assert.notEqual(proxyShapeKey(snap, { ...clientSidecar, namespace: 'other' }), base);
  assert.notEqual(proxyShapeKey(snap, { ...clientSidecar, role: 'router' }), base);
  // Endpoint metadata and the inbound peer table name the cluster (Istio's telemetry string).
  assert.notEqual(proxyShapeKey(snap, { ...clientSidecar, clusterId: 'cluster-z' }), base);
  const noCapture = { ...clientSidecar, interceptionMode: 'NONE' as const };
  assert.notEqual(proxyShapeKey(snap, noCapture), base);
  assert.notEqual(
    proxyShapeKey(snap, { ...noCapture, ips: ['10.1.1.1'] }),
    proxyShapeKey(snap, noCapture),
    'without capture listeners bind the pod address',
  );
  // Gateways bind per address too.
  assert.notEqual(proxyShapeKey(snap, { ...egressGateway, ips: ['10.1.1.2'] }), proxyShapeKey(snap, egressGateway));
});

test('sidecar labels count only through the selectors they match: labels nothing selects on share a shape, a selecting object splits it', async () => {
  const base = await clusterA();
  const replica = (app: string, extra: Record<string, string> = {}): ProxyNode => {
    const n = { ...clientSidecar, podName: `r-${app}`, ips: ['10.9.9.9'], labels: { ...clientSidecar.labels, instance: app, ...extra } };
    return { ...n, id: formatNodeId(n) };
  };
  const [one, two] = [replica('one'), replica('two')];
  assert.equal(proxyShapeKey(base, one), proxyShapeKey(base, two), 'no config selects on `instance`');
  assert.deepEqual(generateProxyResources(base, one), generateProxyResources(base, two));

  // An AuthorizationPolicy in the root namespace selecting instance=one applies to `one` only.
  const policy = {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy' as const,
    metadata: { name: 'deny-one', namespace: base.meshConfig.rootNamespace },
    spec: {
      selector: { matchLabels: { instance: 'one' } },
      action: 'DENY' as const,
      rules: [{ from: [{ source: { namespaces: ['other'] } }] }],
    },
  };
  const withPolicy = { ...base, authorizationPolicies: [...base.authorizationPolicies, policy] } as ConfigSnapshot;
  assert.notEqual(proxyShapeKey(withPolicy, one), proxyShapeKey(withPolicy, two));
  assert.notDeepEqual(
    generateProxyResources(withPolicy, one),
    generateProxyResources(withPolicy, two),
    "the policy changes one's inbound filters",
  );
  assert.equal(proxyShapeKey(withPolicy, two), proxyShapeKey(withPolicy, replica('three')));
});
