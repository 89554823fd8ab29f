import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatNodeId, parseNodeId, NodeIdError } from '../../src/envoy/node.js';

test('parses an Istio sidecar node id into role, address, pod and namespace', () => {
  const parsed = parseNodeId('sidecar~10.0.0.7~mysql-client-5d8f.default~default.svc.cluster.local');
  assert.deepEqual(parsed, {
    role: 'sidecar',
    ips: ['10.0.0.7'],
    podName: 'mysql-client-5d8f',
    namespace: 'default',
    domainSuffix: 'cluster.local',
  });
});

test('formats a node id that parses back to the same fields', () => {
  const n = {
    role: 'router' as const,
    ips: ['127.1.0.3'],
    podName: 'istio-egressgateway-0',
    namespace: 'istio-system',
    domainSuffix: 'cluster.local',
  };
  assert.deepEqual(parseNodeId(formatNodeId(n)), n);
});

test('rejects a node id with the wrong number of parts, naming the expected form', () => {
  assert.throws(
    () => parseNodeId('sidecar~1.2.3.4'),
    (e: unknown) => e instanceof NodeIdError && /4 parts/.test(e.message),
  );
  assert.throws(() => parseNodeId('gateway~1.2.3.4~a.b~b.svc.cluster.local'), /role must be/);
});
