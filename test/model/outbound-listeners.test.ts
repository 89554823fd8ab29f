// Sidecar outbound listeners: VirtualService tcp/tls routes (gateways mesh, port, sourceLabels,
// weights, subsets), listener naming by VIP or 0.0.0.0, and the loopback mode that binds the pod's IP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigObject, VirtualService } from '../../src/config/types.js';
import type { Listener, TcpProxy } from '../../src/envoy/envoy-types.js';
import { generateProxyResources } from '../../src/model/generate.js';
import { pod, service, sidecarNode, snapshotOf } from './fixtures.js';

const client = sidecarNode({ podName: 'client', namespace: 'default', labels: { app: 'client', version: 'v1' } });

const base: ConfigObject[] = [
  service('db', 'default', { app: 'db' }, [{ name: 'tcp', port: 5432 }], '10.96.0.10'),
  pod('db-1', 'default', '10.1.0.1', { app: 'db', v: '1' }),
  service('db2', 'default', { app: 'db2' }, [{ name: 'tcp', port: 5432 }], '10.96.0.11'),
  {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: 'ext', namespace: 'default' },
    spec: {
      hosts: ['ext.example'],
      ports: [
        { number: 5432, name: 'tcp', protocol: 'TCP' },
        { number: 443, name: 'tls', protocol: 'TLS' },
      ],
      resolution: 'DNS',
    },
  },
];

function vs(name: string, spec: VirtualService['spec']): VirtualService {
  return { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: 'default' }, spec };
}

function listeners(objects: ConfigObject[], node = client): Map<string, Listener> {
  return new Map(generateProxyResources(snapshotOf(objects), node).listeners.map((l) => [l.name, l]));
}

function proxyOf(l: Listener | undefined, chain = 0): TcpProxy {
  assert.ok(l, 'listener missing');
  return l.filterChains[chain]?.filters.at(-1)?.typedConfig as unknown as TcpProxy;
}

test('services with an address get VIP_PORT listeners, hosts without one 0.0.0.0_PORT, all behind virtualOutbound', () => {
  const m = listeners(base);
  assert.deepEqual([...m.keys()].sort(), [
    '0.0.0.0_443',
    '0.0.0.0_5432',
    '10.96.0.10_5432',
    '10.96.0.11_5432',
    'virtualInbound',
    'virtualOutbound',
  ]);
  assert.equal(m.get('10.96.0.10_5432')?.bindToPort, false);
  assert.equal(proxyOf(m.get('10.96.0.10_5432')).cluster, 'outbound|5432||db.default.svc.cluster.local');
  const vo = m.get('virtualOutbound');
  assert.equal(vo?.useOriginalDst, true);
  assert.equal(vo?.address.socketAddress?.portValue, 15001);
  assert.equal(proxyOf(vo, 1).cluster, 'PassthroughCluster');
  const strict = generateProxyResources(snapshotOf(base, { outboundTrafficPolicy: 'REGISTRY_ONLY' }), client).listeners.find(
    (l) => l.name === 'virtualOutbound',
  );
  assert.equal(proxyOf(strict, 1).cluster, 'BlackHoleCluster', 'REGISTRY_ONLY sends unknown destinations to the black hole');
});

test('a tcp route with weights splits between subsets; the first matching route wins', () => {
  const m = listeners([
    ...base,
    vs('split', {
      hosts: ['db'],
      tcp: [
        { match: [{ port: 9999 }], route: [{ destination: { host: 'db2' } }] },
        {
          route: [
            { destination: { host: 'db', subset: 'v1' }, weight: 80 },
            { destination: { host: 'db', subset: 'v2' }, weight: 20 },
            { destination: { host: 'db', subset: 'v3' }, weight: 0 },
          ],
        },
      ],
    }),
  ]);
  assert.deepEqual(proxyOf(m.get('10.96.0.10_5432')).weightedClusters, {
    clusters: [
      { name: 'outbound|5432|v1|db.default.svc.cluster.local', weight: 80 },
      { name: 'outbound|5432|v2|db.default.svc.cluster.local', weight: 20 },
    ],
  });
});

test('match.sourceLabels and match.gateways decide whether a route applies to this sidecar', () => {
  const rules = vs('by-source', {
    hosts: ['db'],
    gateways: ['mesh', 'some-gateway'],
    tcp: [
      { match: [{ sourceLabels: { version: 'v2' } }], route: [{ destination: { host: 'db2' } }] },
      { match: [{ gateways: ['some-gateway'] }], route: [{ destination: { host: 'ext.example' } }] },
      {
        match: [{ sourceLabels: { version: 'v1' }, gateways: ['mesh'] }],
        route: [{ destination: { host: 'db', port: { number: 5432 }, subset: 'v1' } }],
      },
    ],
  });
  assert.equal(proxyOf(listeners([...base, rules]).get('10.96.0.10_5432')).cluster, 'outbound|5432|v1|db.default.svc.cluster.local');
  const v2 = sidecarNode({ podName: 'c2', namespace: 'default', labels: { version: 'v2' } });
  assert.equal(proxyOf(listeners([...base, rules], v2).get('10.96.0.10_5432')).cluster, 'outbound|5432||db2.default.svc.cluster.local');
});

test('a VirtualService bound only to a gateway does not touch sidecars', () => {
  const m = listeners([
    ...base,
    vs('gw-only', { hosts: ['db'], gateways: ['ingress'], tcp: [{ route: [{ destination: { host: 'db2' } }] }] }),
  ]);
  assert.equal(proxyOf(m.get('10.96.0.10_5432')).cluster, 'outbound|5432||db.default.svc.cluster.local');
});

test('a route to an unknown host goes to BlackHoleCluster rather than a cluster that does not exist', () => {
  const m = listeners([...base, vs('nowhere', { hosts: ['db'], tcp: [{ route: [{ destination: { host: 'missing.example' } }] }] })]);
  assert.equal(proxyOf(m.get('10.96.0.10_5432')).cluster, 'BlackHoleCluster');
});

test('tls routes on a TLS port become SNI filter chains', () => {
  const m = listeners([
    ...base,
    vs('sni', {
      hosts: ['ext.example'],
      tls: [{ match: [{ sniHosts: ['ext.example'], port: 443 }], route: [{ destination: { host: 'db', port: { number: 5432 } } }] }],
    }),
  ]);
  const l = m.get('0.0.0.0_443');
  assert.deepEqual(l?.filterChains[0]?.filterChainMatch, { serverNames: ['ext.example'] });
  assert.equal(proxyOf(l).cluster, 'outbound|5432||db.default.svc.cluster.local');
  assert.equal(l?.listenerFilters?.[0]?.name, 'envoy.filters.listener.tls_inspector');
});

test('captureMode NONE binds outbound listeners to the pod address, with no virtual listeners', () => {
  const lo = sidecarNode({
    podName: 'client',
    namespace: 'default',
    labels: { app: 'client' },
    ips: ['127.0.10.5'],
    interceptionMode: 'NONE',
  });
  const m = listeners(base, lo);
  assert.deepEqual([...m.keys()].sort(), ['127.0.10.5_443', '127.0.10.5_5432']);
  const l = m.get('127.0.10.5_5432');
  assert.equal(l?.bindToPort, true);
  assert.deepEqual(l?.address, { socketAddress: { address: '127.0.10.5', portValue: 5432 } });
  // Three services share the port: the first (by host name) holds it, the rest cannot be told apart.
  assert.equal(l?.filterChains.length, 1);
  assert.equal(proxyOf(l).cluster, 'outbound|5432||db.default.svc.cluster.local');
});

test('ServiceEntry CIDR addresses share 0.0.0.0_PORT, told apart by destination prefix', () => {
  const m = listeners([
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'net', namespace: 'default' },
      spec: {
        hosts: ['net.example'],
        addresses: ['192.0.2.0/24'],
        ports: [{ number: 7000, name: 'tcp', protocol: 'TCP' }],
        resolution: 'NONE',
      },
    },
  ]);
  const l = m.get('0.0.0.0_7000');
  assert.deepEqual(l?.filterChains[0]?.filterChainMatch, { prefixRanges: [{ addressPrefix: '192.0.2.0', prefixLen: 24 }] });
  assert.equal(proxyOf(l).cluster, 'outbound|7000||net.example');
  assert.equal((l?.defaultFilterChain?.filters[0]?.typedConfig as unknown as TcpProxy).cluster, 'PassthroughCluster');
});

test('connectionPool.tcp.idleTimeout of the destination becomes the tcp_proxy idle timeout', () => {
  const m = listeners([
    ...base,
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'db', namespace: 'default' },
      spec: { host: 'db', trafficPolicy: { connectionPool: { tcp: { idleTimeout: '90s' } } } },
    },
  ]);
  assert.equal(proxyOf(m.get('10.96.0.10_5432')).idleTimeout, '90s');
  assert.equal(proxyOf(m.get('10.96.0.11_5432')).idleTimeout, undefined);
});

test('captureMode NONE: a port the workload serves itself stays inbound, no outbound listener binds it twice', () => {
  const lo = sidecarNode({ podName: 'db-1', namespace: 'default', labels: { app: 'db' }, ips: ['127.0.20.5'], interceptionMode: 'NONE' });
  const ls = generateProxyResources(snapshotOf(base), lo).listeners;
  const names = ls.map((l) => l.name);
  assert.equal(new Set(names).size, names.length, `duplicate listener names: ${names.join(', ')}`);
  const on5432 = ls.filter((l) => l.name === '127.0.20.5_5432');
  assert.deepEqual(
    on5432.map((l) => l.trafficDirection),
    ['INBOUND'],
  );
});
