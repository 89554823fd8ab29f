// The Sidecar resource: egress host scoping, outbound traffic policy, and explicit ingress ports with
// defaultEndpoint (Istio's form for workloads without traffic capture, the lab's loopback mode).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigObject, Sidecar } from '../../src/config/types.js';
import { generateProxyResources } from '../../src/model/generate.js';
import { pod, service, sidecarNode, snapshotOf } from './fixtures.js';

function sidecar(name: string, namespace: string, spec: Record<string, unknown>): Sidecar {
  return { apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name, namespace }, spec: spec as Sidecar['spec'] };
}

const base: ConfigObject[] = [
  service('db', 'default', { app: 'db' }, [{ name: 'tcp', port: 5432 }], '10.96.0.10'),
  service('cache', 'other', { app: 'cache' }, [{ name: 'tcp', port: 6379 }], '10.96.0.20'),
  pod('db-1', 'default', '127.0.20.5', { app: 'db' }, { sidecar: true }),
];

test('egress hosts limit the services a sidecar sees; outboundTrafficPolicy REGISTRY_ONLY blackholes the rest', () => {
  const node = sidecarNode({ podName: 'c', namespace: 'default', labels: { app: 'c' } });
  const r = generateProxyResources(snapshotOf([...base, sidecar('default', 'default', { egress: [{ hosts: ['./*'] }], outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } })]), node);
  assert.ok(r.clusters.some((c) => c.name === 'outbound|5432||db.default.svc.cluster.local'));
  assert.ok(!r.clusters.some((c) => c.name.includes('cache.other')), 'a service outside ./* is not visible');
  const vo = r.listeners.find((l) => l.name === 'virtualOutbound');
  assert.equal((vo?.filterChains[1]?.filters[0]?.typedConfig as { cluster?: string }).cluster, 'BlackHoleCluster');
});

test('a workload-selected Sidecar wins over the namespace default', () => {
  const node = sidecarNode({ podName: 'c', namespace: 'default', labels: { app: 'c' } });
  const r = generateProxyResources(
    snapshotOf([...base, sidecar('default', 'default', { egress: [{ hosts: ['./*'] }] }), sidecar('mine', 'default', { workloadSelector: { labels: { app: 'c' } }, egress: [{ hosts: ['other/*'] }] })]),
    node,
  );
  assert.deepEqual(r.clusters.filter((c) => c.name.startsWith('outbound')).map((c) => c.name), ['outbound|6379||cache.other.svc.cluster.local']);
});

test('ingress with defaultEndpoint: the inbound cluster dials where the application listens, the listener binds the pod (captureMode NONE)', () => {
  const node = sidecarNode({ podName: 'db-1', namespace: 'default', labels: { app: 'db' }, ips: ['127.0.20.5'], interceptionMode: 'NONE' });
  const r = generateProxyResources(
    snapshotOf([...base, sidecar('db', 'default', { workloadSelector: { labels: { app: 'db' } }, ingress: [{ port: { number: 5432, protocol: 'TCP', name: 'tcp' }, defaultEndpoint: '127.0.0.1:15432' }] })]),
    node,
  );
  const l = r.listeners.find((x) => x.trafficDirection === 'INBOUND');
  assert.equal(l?.name, '127.0.20.5_5432');
  const c = r.clusters.find((x) => x.name === 'inbound|5432||');
  assert.deepEqual(c?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.endpoint.address.socketAddress, { address: '127.0.0.1', portValue: 15432 });
});
