// Finding a proxy by POD[.NAMESPACE] in a lab's summary, as istioctl reads a pod reference.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findProxyInSummary, parsePodRef } from '../../src/cli/lab-locate.js';
import type { LabSummary } from '../../src/lab/lab.js';

const proxy = (name: string, namespace: string, cluster: string, n: number): LabSummary['proxies'][number] => ({
  name,
  namespace,
  cluster,
  role: 'sidecar',
  address: `127.9.0.${n}`,
  adminUrl: `http://127.9.1.${n}:15000`,
  pid: 1,
  accessLog: '/dev/null',
});

const summary = {
  labId: 'x',
  name: 'demo',
  mode: 'loopback',
  stateDir: '/nonexistent',
  labFile: '/nonexistent/lab.yaml',
  loopbackNet: '127.9.0.0/16',
  bridgeNetns: [],
  workloads: [],
  clusters: [
    { name: 'a', controlPlaneUrl: 'http://127.9.2.1:15014' },
    { name: 'b', controlPlaneUrl: 'http://127.9.2.2:15014' },
  ],
  proxies: [proxy('web.v1', 'shop', 'a', 1), proxy('gw', 'istio-system', 'a', 2), proxy('gw', 'istio-system', 'b', 3)],
} as unknown as LabSummary;

test('the namespace is what follows the last dot; without one, -n or default', () => {
  assert.deepEqual(parsePodRef('mysql-client'), { name: 'mysql-client', namespace: 'default' });
  assert.deepEqual(parsePodRef('mysql-client', 'db'), { name: 'mysql-client', namespace: 'db' });
  assert.deepEqual(parsePodRef('istio-egressgateway.istio-system'), { name: 'istio-egressgateway', namespace: 'istio-system' });
  assert.deepEqual(parsePodRef('web.v1.shop'), { name: 'web.v1', namespace: 'shop' });
});

test("a pod is found with its admin and its cluster's control plane; ambiguity and typos are errors naming the choices", () => {
  assert.deepEqual(findProxyInSummary(summary, 'web.v1.shop'), {
    name: 'web.v1',
    namespace: 'shop',
    cluster: 'a',
    adminUrl: 'http://127.9.1.1:15000',
    controlPlaneUrl: 'http://127.9.2.1:15014',
  });
  assert.equal(findProxyInSummary(summary, 'gw.istio-system', { cluster: 'b' }).adminUrl, 'http://127.9.1.3:15000');
  assert.throws(() => findProxyInSummary(summary, 'gw.istio-system'), {
    code: 'E_POD_NOT_FOUND',
    message: 'pod gw.istio-system runs in several clusters (a, b): choose one with --lab-cluster',
  });
  assert.throws(() => findProxyInSummary(summary, 'web'), {
    code: 'E_POD_NOT_FOUND',
    message: 'no proxy for pod web.default in lab demo (pods with a proxy: gw.istio-system, web.v1.shop)',
  });
  assert.throws(() => findProxyInSummary(summary, 'gw.istio-system', { cluster: 'c' }), {
    code: 'E_POD_NOT_FOUND',
    message: 'lab demo has no cluster "c" (clusters: a, b)',
  });
});
