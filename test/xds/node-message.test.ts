import { test } from 'node:test';
import assert from 'node:assert/strict';
import { proxyNodeToMessage, proxyNodeFromMessage, NodeMessageError } from '../../src/xds/node-message.js';
import { encodeMessage, decodeMessage } from '../../src/xds/codec.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';

const base = {
  role: 'sidecar' as const,
  ips: ['10.10.0.5', 'fd00::5'],
  podName: 'mysql-client-7d9f6c',
  namespace: 'default',
  domainSuffix: 'cluster.local',
};
const node: ProxyNode = {
  ...base,
  id: formatNodeId(base),
  serviceAccount: 'mysql-client',
  labels: { app: 'mysql-client', version: 'v1' },
  clusterId: 'cluster-a',
  workloadPorts: [3306],
  interceptionMode: 'REDIRECT',
  version: '0.1.0',
};

test("writes Istio's node metadata keys and reads them back through Envoy's Node encoding", () => {
  const msg = proxyNodeToMessage(node);
  assert.equal(msg.cluster, 'mysql-client.default');
  assert.deepEqual(msg.metadata, {
    NAME: 'mysql-client-7d9f6c',
    NAMESPACE: 'default',
    SERVICE_ACCOUNT: 'mysql-client',
    LABELS: { app: 'mysql-client', version: 'v1' },
    CLUSTER_ID: 'cluster-a',
    INSTANCE_IPS: '10.10.0.5,fd00::5',
    DNS_DOMAIN: 'cluster.local',
    INTERCEPTION_MODE: 'REDIRECT',
    ISTIO_VERSION: '0.1.0',
    POD_PORTS: '[{"containerPort":3306,"protocol":"TCP"}]',
  });
  const wire = decodeMessage('envoy.config.core.v3.Node', encodeMessage('envoy.config.core.v3.Node', msg));
  assert.deepEqual(proxyNodeFromMessage(wire as never), node);
});

test('reads a minimal node from its id, with Istio defaults for what metadata leaves out', () => {
  const n = proxyNodeFromMessage({ id: 'router~127.1.0.3~gw-0.istio-system~istio-system.svc.cluster.local' });
  assert.deepEqual(n, {
    id: 'router~127.1.0.3~gw-0.istio-system~istio-system.svc.cluster.local',
    role: 'router',
    ips: ['127.1.0.3'],
    podName: 'gw-0',
    namespace: 'istio-system',
    serviceAccount: 'default',
    labels: {},
    clusterId: 'Kubernetes',
    domainSuffix: 'cluster.local',
  });
});

test('refuses a node whose metadata namespace disagrees with its id, or with malformed metadata', () => {
  const msg = proxyNodeToMessage(node);
  assert.throws(
    () => proxyNodeFromMessage({ ...msg, metadata: { ...msg.metadata, NAMESPACE: 'istio-system' } }),
    (e: unknown) => e instanceof NodeMessageError && e.code === 'E_XDS_NODE' && /disagrees/.test(e.message),
  );
  assert.throws(() => proxyNodeFromMessage({ ...msg, metadata: { ...msg.metadata, LABELS: 'app=x' } }), /LABELS must be an object/);
  assert.throws(() => proxyNodeFromMessage({ ...msg, metadata: { ...msg.metadata, INTERCEPTION_MODE: 'TPROXY' } }), /not supported/);
  assert.throws(() => proxyNodeFromMessage({ ...msg, metadata: { ...msg.metadata, POD_PORTS: '{' } }), /POD_PORTS is not JSON/);
  assert.throws(() => proxyNodeFromMessage({ id: '' }), /must carry node.id/);
});
