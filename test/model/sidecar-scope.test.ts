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
  const r = generateProxyResources(
    snapshotOf([
      ...base,
      sidecar('default', 'default', { egress: [{ hosts: ['./*'] }], outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } }),
    ]),
    node,
  );
  assert.ok(r.clusters.some((c) => c.name === 'outbound|5432||db.default.svc.cluster.local'));
  assert.ok(!r.clusters.some((c) => c.name.includes('cache.other')), 'a service outside ./* is not visible');
  const vo = r.listeners.find((l) => l.name === 'virtualOutbound');
  assert.equal((vo?.filterChains[1]?.filters[0]?.typedConfig as { cluster?: string }).cluster, 'BlackHoleCluster');
});

test('a workload-selected Sidecar wins over the namespace default', () => {
  const node = sidecarNode({ podName: 'c', namespace: 'default', labels: { app: 'c' } });
  const r = generateProxyResources(
    snapshotOf([
      ...base,
      sidecar('default', 'default', { egress: [{ hosts: ['./*'] }] }),
      sidecar('mine', 'default', { workloadSelector: { labels: { app: 'c' } }, egress: [{ hosts: ['other/*'] }] }),
    ]),
    node,
  );
  assert.deepEqual(
    r.clusters.filter((c) => c.name.startsWith('outbound')).map((c) => c.name),
    ['outbound|6379||cache.other.svc.cluster.local'],
  );
});

test('ingress with defaultEndpoint: the inbound cluster dials where the application listens, the listener binds the pod (captureMode NONE)', () => {
  const node = sidecarNode({ podName: 'db-1', namespace: 'default', labels: { app: 'db' }, ips: ['127.0.20.5'], interceptionMode: 'NONE' });
  const r = generateProxyResources(
    snapshotOf([
      ...base,
      sidecar('db', 'default', {
        workloadSelector: { labels: { app: 'db' } },
        ingress: [{ port: { number: 5432, protocol: 'TCP', name: 'tcp' }, defaultEndpoint: '127.0.0.1:15432' }],
      }),
    ]),
    node,
  );
  const l = r.listeners.find((x) => x.trafficDirection === 'INBOUND');
  assert.equal(l?.name, '127.0.20.5_5432');
  const c = r.clusters.find((x) => x.name === 'inbound|5432||');
  assert.deepEqual(c?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.endpoint.address.socketAddress, {
    address: '127.0.0.1',
    portValue: 15432,
  });
});

test('defaultEndpoint with capture: 127.0.0.1:PORT is STATIC and binds nothing (pre-1.10 Istio), 0.0.0.0:PORT dials the pod IP from 127.0.0.6, none is ORIGINAL_DST', () => {
  const node = sidecarNode({ podName: 'db-1', namespace: 'default', labels: { app: 'db' }, ips: ['10.1.0.5'] });
  const ingress = [
    { port: { number: 5432, protocol: 'TCP', name: 'loop' }, defaultEndpoint: '127.0.0.1:15432' },
    { port: { number: 5433, protocol: 'TCP', name: 'pod' }, defaultEndpoint: '0.0.0.0:15433' },
    { port: { number: 5434, protocol: 'TCP', name: 'orig' } },
  ];
  const r = generateProxyResources(
    snapshotOf([...base, sidecar('db', 'default', { workloadSelector: { labels: { app: 'db' } }, ingress })]),
    node,
  );
  const c = (port: number) => r.clusters.find((x) => x.name === `inbound|${port}||`);
  assert.equal(c(5432)?.type, 'STATIC');
  assert.deepEqual(c(5432)?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.endpoint.address.socketAddress, {
    address: '127.0.0.1',
    portValue: 15432,
  });
  assert.equal(c(5432)?.upstreamBindConfig, undefined);
  assert.equal(c(5433)?.type, 'STATIC');
  assert.deepEqual(c(5433)?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.endpoint.address.socketAddress, {
    address: '10.1.0.5',
    portValue: 15433,
  });
  assert.deepEqual(c(5433)?.upstreamBindConfig, { sourceAddress: { address: '127.0.0.6', portValue: 0 } });
  assert.equal(c(5434)?.type, 'ORIGINAL_DST');
  assert.deepEqual(c(5434)?.upstreamBindConfig, { sourceAddress: { address: '127.0.0.6', portValue: 0 } });
});

test('captureMode NONE without defaultEndpoint: the inbound cluster stays 127.0.0.1:PORT (no original destination to dial)', () => {
  const node = sidecarNode({ podName: 'db-1', namespace: 'default', labels: { app: 'db' }, ips: ['127.0.20.5'], interceptionMode: 'NONE' });
  const c = generateProxyResources(snapshotOf(base), node).clusters.find((x) => x.name === 'inbound|5432||');
  assert.equal(c?.type, 'STATIC');
  assert.deepEqual(c?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.endpoint.address.socketAddress, {
    address: '127.0.0.1',
    portValue: 5432,
  });
  assert.equal(c?.upstreamBindConfig, undefined);
});
