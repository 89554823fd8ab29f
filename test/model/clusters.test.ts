// Outbound clusters: Istio's merge rules, load balancing, connection pool, outlier detection,
// ServiceEntry resolutions, auto mTLS, and TLS origination (files, credentials, fail closed).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Cluster, UpstreamTlsContext } from '../../src/envoy/envoy-types.js';
import type { ConfigObject, DestinationRule, ServiceEntry, TrafficPolicy } from '../../src/config/types.js';
import { generateProxyResources } from '../../src/model/generate.js';
import { effectivePolicy } from '../../src/model/traffic-policy.js';
import { FIXTURES, pod, routerNode, service, sidecarNode, snapshotOf } from './fixtures.js';

const client = sidecarNode({ podName: 'client', namespace: 'default', labels: { app: 'client' } });

function dr(name: string, host: string, trafficPolicy?: TrafficPolicy, subsets?: DestinationRule['spec']['subsets']): DestinationRule {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name, namespace: 'default' },
    spec: { host, ...(trafficPolicy ? { trafficPolicy } : {}), ...(subsets ? { subsets } : {}) },
  };
}

function se(name: string, spec: ServiceEntry['spec']): ServiceEntry {
  return { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name, namespace: 'default' }, spec };
}

function clustersOf(objects: ConfigObject[], node = client): Map<string, Cluster> {
  const r = generateProxyResources(snapshotOf(objects), node);
  return new Map(r.clusters.map((c) => [c.name, c]));
}

function get(m: Map<string, Cluster>, name: string): Cluster {
  const c = m.get(name);
  assert.ok(c, `cluster ${name} missing; have ${[...m.keys()].join(', ')}`);
  return c;
}

function upstream(c: Cluster): UpstreamTlsContext & { '@type': string } {
  assert.ok(c.transportSocket?.typedConfig, `${c.name} has no transport socket`);
  return c.transportSocket.typedConfig as UpstreamTlsContext & { '@type': string };
}

const backend = [
  service(
    'db',
    'default',
    { app: 'db' },
    [
      { name: 'tcp-db', port: 5432 },
      { name: 'tcp-admin', port: 9000 },
    ],
    '10.96.0.10',
  ),
  pod('db-1', 'default', '10.1.0.1', { app: 'db', v: '1' }, { sidecar: true, sa: 'db' }),
  pod('db-2', 'default', '10.1.0.2', { app: 'db', v: '2' }, { sidecar: true, sa: 'db' }),
];

test('a port-level entry replaces the destination policy for its port: omitted fields take defaults', () => {
  const policy: TrafficPolicy = {
    loadBalancer: { simple: 'RANDOM' },
    connectionPool: { tcp: { maxConnections: 7 } },
    portLevelSettings: [{ port: { number: 5432 }, tls: { mode: 'DISABLE' } }],
  };
  const eff = effectivePolicy(dr('x', 'db', policy), 5432);
  assert.deepEqual(eff, { tls: { mode: 'DISABLE' } });
  assert.deepEqual(effectivePolicy(dr('x', 'db', policy), 9000), {
    loadBalancer: { simple: 'RANDOM' },
    connectionPool: { tcp: { maxConnections: 7 } },
  });
  const m = clustersOf([...backend, dr('db', 'db', policy)]);
  assert.equal(get(m, 'outbound|5432||db.default.svc.cluster.local').lbPolicy, 'LEAST_REQUEST');
  assert.equal(get(m, 'outbound|5432||db.default.svc.cluster.local').circuitBreakers?.thresholds[0]?.maxConnections, 4294967295);
  assert.equal(get(m, 'outbound|9000||db.default.svc.cluster.local').lbPolicy, 'RANDOM');
  assert.equal(get(m, 'outbound|9000||db.default.svc.cluster.local').circuitBreakers?.thresholds[0]?.maxConnections, 7);
});

test('a subset overrides destination fields one by one, and its own port-level entry replaces all four', () => {
  const rule = dr('db', 'db', { loadBalancer: { simple: 'RANDOM' }, connectionPool: { tcp: { maxConnections: 3 } } }, [
    { name: 'v1', labels: { v: '1' }, trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } },
    {
      name: 'v2',
      labels: { v: '2' },
      trafficPolicy: {
        loadBalancer: { simple: 'ROUND_ROBIN' },
        portLevelSettings: [{ port: { number: 5432 }, connectionPool: { tcp: { maxConnections: 9 } } }],
      },
    },
  ]);
  const m = clustersOf([...backend, rule]);
  const v1 = get(m, 'outbound|5432|v1|db.default.svc.cluster.local');
  assert.equal(v1.lbPolicy, 'ROUND_ROBIN');
  assert.equal(v1.circuitBreakers?.thresholds[0]?.maxConnections, 3, 'connection pool inherited from the destination level');
  const v2 = get(m, 'outbound|5432|v2|db.default.svc.cluster.local');
  assert.equal(v2.lbPolicy, 'LEAST_REQUEST', 'the subset port entry has no load balancer: default, not inherited');
  assert.equal(v2.circuitBreakers?.thresholds[0]?.maxConnections, 9);
  assert.equal(get(m, 'outbound|9000|v2|db.default.svc.cluster.local').lbPolicy, 'ROUND_ROBIN');
});

test('subset clusters get only the endpoints whose labels match the subset', () => {
  const r = generateProxyResources(snapshotOf([...backend, dr('db', 'db', undefined, [{ name: 'v2', labels: { v: '2' } }])]), client);
  const cla = r.endpoints.find((e) => e.clusterName === 'outbound|5432|v2|db.default.svc.cluster.local');
  assert.deepEqual(
    cla?.endpoints.flatMap((l) => l.lbEndpoints.map((e) => e.endpoint.address.socketAddress?.address)),
    ['10.1.0.2'],
  );
  const all = r.endpoints.find((e) => e.clusterName === 'outbound|5432||db.default.svc.cluster.local');
  assert.equal(all?.endpoints[0]?.lbEndpoints.length, 2);
});

test('load balancer names map to Envoy policies; PASSTHROUGH becomes an ORIGINAL_DST cluster', () => {
  const cases: [string, Cluster['lbPolicy'], Cluster['type']][] = [
    ['ROUND_ROBIN', 'ROUND_ROBIN', 'EDS'],
    ['LEAST_CONN', 'LEAST_REQUEST', 'EDS'],
    ['LEAST_REQUEST', 'LEAST_REQUEST', 'EDS'],
    ['RANDOM', 'RANDOM', 'EDS'],
    ['UNSPECIFIED', 'LEAST_REQUEST', 'EDS'],
    ['PASSTHROUGH', 'CLUSTER_PROVIDED', 'ORIGINAL_DST'],
  ];
  for (const [simple, lb, type] of cases) {
    const c = get(
      clustersOf([...backend, dr('db', 'db', { loadBalancer: { simple: simple as 'RANDOM' } })]),
      'outbound|5432||db.default.svc.cluster.local',
    );
    assert.equal(c.lbPolicy, lb, simple);
    assert.equal(c.type, type, simple);
  }
});

test('connectionPool.tcp sets connect timeout, max connections and keepalive; outlierDetection maps to Envoy', () => {
  const c = get(
    clustersOf([
      ...backend,
      dr('db', 'db', {
        connectionPool: { tcp: { maxConnections: 100, connectTimeout: '250ms', tcpKeepalive: { probes: 3, time: '2m', interval: '30s' } } },
        outlierDetection: {
          consecutiveGatewayErrors: 2,
          consecutive5xxErrors: 0,
          interval: '5s',
          baseEjectionTime: '30s',
          maxEjectionPercent: 50,
          splitExternalLocalOriginErrors: true,
          consecutiveLocalOriginFailures: 4,
        },
      }),
    ]),
    'outbound|5432||db.default.svc.cluster.local',
  );
  assert.equal(c.connectTimeout, '0.250s');
  assert.equal(c.circuitBreakers?.thresholds[0]?.maxConnections, 100);
  assert.deepEqual(c.upstreamConnectionOptions, { tcpKeepalive: { keepaliveProbes: 3, keepaliveTime: 120, keepaliveInterval: 30 } });
  assert.deepEqual(c.outlierDetection, {
    consecutive5xx: 0,
    enforcingConsecutive5xx: 0,
    consecutiveGatewayFailure: 2,
    enforcingConsecutiveGatewayFailure: 100,
    splitExternalLocalOriginErrors: true,
    consecutiveLocalOriginFailure: 4,
    enforcingConsecutiveLocalOriginFailure: 100,
    interval: '5s',
    baseEjectionTime: '30s',
    maxEjectionPercent: 50,
  });
});

test('ServiceEntry resolutions: DNS is STRICT_DNS, DNS_ROUND_ROBIN is LOGICAL_DNS with one endpoint, STATIC inline, NONE original destination', () => {
  const ports = [{ number: 443, name: 'tls', protocol: 'TLS' }];
  const m = clustersOf([
    se('dns', {
      hosts: ['a.example'],
      ports,
      resolution: 'DNS',
      endpoints: [{ address: 'a1.example' }, { address: 'a2.example', ports: { tls: 8443 } }],
    }),
    se('rr', {
      hosts: ['b.example'],
      ports,
      resolution: 'DNS_ROUND_ROBIN',
      endpoints: [{ address: 'b1.example' }, { address: 'b2.example' }],
    }),
    se('static', { hosts: ['c.example'], ports, resolution: 'STATIC', endpoints: [{ address: '192.0.2.7', weight: 3 }] }),
    se('none', { hosts: ['d.example'], ports, resolution: 'NONE' }),
    se('hostonly', { hosts: ['e.example'], ports, resolution: 'DNS' }),
  ]);
  const a = get(m, 'outbound|443||a.example');
  assert.equal(a.type, 'STRICT_DNS');
  assert.equal(a.respectDnsTtl, true);
  assert.deepEqual(
    a.loadAssignment?.endpoints[0]?.lbEndpoints.map(
      (e) => `${e.endpoint.address.socketAddress?.address}:${e.endpoint.address.socketAddress?.portValue}`,
    ),
    ['a1.example:443', 'a2.example:8443'],
  );
  const b = get(m, 'outbound|443||b.example');
  assert.equal(b.type, 'LOGICAL_DNS');
  assert.equal(b.loadAssignment?.endpoints[0]?.lbEndpoints.length, 1);
  const c = get(m, 'outbound|443||c.example');
  assert.equal(c.type, 'STATIC');
  assert.equal(c.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.loadBalancingWeight, 3);
  const d = get(m, 'outbound|443||d.example');
  assert.equal(d.type, 'ORIGINAL_DST');
  assert.equal(d.lbPolicy, 'CLUSTER_PROVIDED');
  assert.equal(d.loadAssignment, undefined);
  assert.equal(
    get(m, 'outbound|443||e.example').loadAssignment?.endpoints[0]?.lbEndpoints[0]?.endpoint.address.socketAddress?.address,
    'e.example',
  );
});

/** Auto mTLS is per endpoint: the `tlsMode-istio` transport socket match's UpstreamTlsContext. */
function autoMtls(c: Cluster): UpstreamTlsContext & { '@type': string } {
  assert.equal(c.transportSocket, undefined, `${c.name}: auto mTLS must not set a cluster-wide transport socket`);
  assert.deepEqual(
    c.transportSocketMatches?.map((m) => [m.name, m.match, m.transportSocket?.name]),
    [
      ['tlsMode-istio', { tlsMode: 'istio' }, 'envoy.transport_sockets.tls'],
      ['tlsMode-disabled', {}, 'envoy.transport_sockets.raw_buffer'],
    ],
    `${c.name}: transport socket matches`,
  );
  return c.transportSocketMatches![0]!.transportSocket!.typedConfig as UpstreamTlsContext & { '@type': string };
}

function endpointTlsModes(objects: ConfigObject[], cluster: string): Record<string, string> {
  const r = generateProxyResources(snapshotOf(objects), client);
  const out: Record<string, string> = {};
  for (const e of r.endpoints.find((x) => x.clusterName === cluster)?.endpoints.flatMap((l) => l.lbEndpoints) ?? []) {
    out[e.endpoint.address.socketAddress?.address ?? ''] =
      (e.metadata?.filterMetadata?.['envoy.transport_socket_match'] as { tlsMode?: string } | undefined)?.tlsMode ?? 'none';
  }
  return out;
}

test('auto mTLS per endpoint: transport socket matches on tlsMode, endpoints with a proxy marked istio; none for MESH_EXTERNAL or PeerAuthentication DISABLE', () => {
  const withProxy = get(clustersOf(backend), 'outbound|5432||db.default.svc.cluster.local');
  const tls = autoMtls(withProxy);
  assert.equal(tls.sni, 'outbound_.5432_._.db.default.svc.cluster.local');
  assert.deepEqual(tls.commonTlsContext?.combinedValidationContext?.defaultValidationContext.matchTypedSubjectAltNames, [
    { sanType: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/db' } },
  ]);
  assert.deepEqual(tls.commonTlsContext?.alpnProtocols, ['istio-peer-exchange', 'istio']);

  const labelled = [
    service('l', 'default', { app: 'l' }, [{ name: 'tcp', port: 1 }]),
    pod('l-1', 'default', '10.1.1.1', { app: 'l', 'security.istio.io/tlsMode': 'istio' }),
  ];
  autoMtls(get(clustersOf(labelled), 'outbound|1||l.default.svc.cluster.local'));
  assert.deepEqual(
    endpointTlsModes(labelled, 'outbound|1||l.default.svc.cluster.local'),
    { '10.1.1.1': 'istio' },
    'the tlsMode label counts as a proxy',
  );

  // A mixed set: the cluster has both matches, each endpoint says which applies to it.
  const plain = [service('p', 'default', { app: 'p' }, [{ name: 'tcp', port: 1 }]), pod('p-1', 'default', '10.1.2.1', { app: 'p' })];
  const mixed = [...plain, pod('p-2', 'default', '10.1.2.2', { app: 'p' }, { sidecar: true })];
  autoMtls(get(clustersOf(mixed), 'outbound|1||p.default.svc.cluster.local'));
  assert.deepEqual(endpointTlsModes(mixed, 'outbound|1||p.default.svc.cluster.local'), { '10.1.2.1': 'none', '10.1.2.2': 'istio' });

  const disabled: ConfigObject[] = [
    ...backend,
    {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'off', namespace: 'default' },
      spec: { mtls: { mode: 'DISABLE' } },
    },
  ];
  const off = get(clustersOf(disabled), 'outbound|5432||db.default.svc.cluster.local');
  assert.equal(off.transportSocket, undefined);
  assert.equal(off.transportSocketMatches, undefined);

  const ext = [
    se('ext', {
      hosts: ['x.example'],
      ports: [{ number: 1, name: 'tcp', protocol: 'TCP' }],
      resolution: 'STATIC',
      location: 'MESH_EXTERNAL',
      endpoints: [{ address: '192.0.2.1', labels: { 'security.istio.io/tlsMode': 'istio' } }],
    }),
  ];
  assert.equal(get(clustersOf(ext), 'outbound|1||x.example').transportSocket, undefined);
  assert.equal(get(clustersOf(ext), 'outbound|1||x.example').transportSocketMatches, undefined);
});

test("explicit ISTIO_MUTUAL keeps the rule's SNI and subjectAltNames; DISABLE turns auto mTLS off", () => {
  const m = clustersOf([
    ...backend,
    dr('db', 'db', {
      tls: { mode: 'ISTIO_MUTUAL', sni: 'db.custom', subjectAltNames: ['spiffe://other/ns/x/sa/y'] },
      portLevelSettings: [{ port: { number: 9000 }, tls: { mode: 'DISABLE' } }],
    }),
  ]);
  const t = upstream(get(m, 'outbound|5432||db.default.svc.cluster.local'));
  assert.equal(t.sni, 'db.custom');
  assert.deepEqual(t.commonTlsContext?.combinedValidationContext?.defaultValidationContext.matchTypedSubjectAltNames, [
    { sanType: 'URI', matcher: { exact: 'spiffe://other/ns/x/sa/y' } },
  ]);
  assert.equal(get(m, 'outbound|9000||db.default.svc.cluster.local').transportSocket, undefined);
});

test('SIMPLE and MUTUAL with files on a sidecar: certificate, CA and the SNI verified as the server name', () => {
  const ext = se('ext', { hosts: ['api.example'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'DNS' });
  const m = clustersOf([
    ext,
    dr('api', 'api.example', {
      tls: {
        mode: 'MUTUAL',
        clientCertificate: '/etc/certs/c.pem',
        privateKey: '/etc/certs/k.pem',
        caCertificates: '/etc/certs/ca.pem',
        sni: 'api.example',
      },
    }),
  ]);
  const t = upstream(get(m, 'outbound|443||api.example'));
  assert.equal(t.sni, 'api.example');
  assert.deepEqual(t.commonTlsContext?.tlsCertificates, [
    { certificateChain: { filename: '/etc/certs/c.pem' }, privateKey: { filename: '/etc/certs/k.pem' } },
  ]);
  assert.deepEqual(t.commonTlsContext?.validationContext, {
    trustedCa: { filename: '/etc/certs/ca.pem' },
    matchTypedSubjectAltNames: [{ sanType: 'DNS', matcher: { exact: 'api.example' } }],
  });
  assert.deepEqual(t.commonTlsContext?.tlsParams, { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' });

  const skip = upstream(
    get(clustersOf([ext, dr('api', 'api.example', { tls: { mode: 'SIMPLE', insecureSkipVerify: true } })]), 'outbound|443||api.example'),
  );
  assert.deepEqual(skip.commonTlsContext?.validationContext, { trustChainVerification: 'ACCEPT_UNTRUSTED' });
  assert.equal(skip.commonTlsContext?.tlsCertificates, undefined);

  const broken = get(clustersOf([ext, dr('api', 'api.example', { tls: { mode: 'MUTUAL' } })]), 'outbound|443||api.example');
  assert.deepEqual(broken.loadAssignment?.endpoints, [], 'MUTUAL without a client certificate fails closed');
});

test('credentialName fails closed on a sidecar but becomes kubernetes:// SDS on a gateway', () => {
  const ext = se('ext', { hosts: ['api.example'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'DNS' });
  const rule = dr('api', 'api.example', { tls: { mode: 'SIMPLE', credentialName: 'api-ca', subjectAltNames: ['api.internal'] } });
  const side = get(clustersOf([ext, rule]), 'outbound|443||api.example');
  assert.equal(side.type, 'STATIC');
  assert.deepEqual(side.loadAssignment?.endpoints, []);
  assert.equal(side.transportSocket, undefined);
  assert.match(String(side.metadata?.filterMetadata?.meshgate?.failClosed), /SIMPLE with credentialName "api-ca"/);

  const gw = routerNode({ podName: 'egress', namespace: 'default', labels: { istio: 'egressgateway' } });
  const notGateway = get(clustersOf([ext, rule], gw), 'outbound|443||api.example');
  assert.deepEqual(notGateway.loadAssignment?.endpoints, [], 'a router whose service account no Gateway selects fails closed');
  assert.match(
    String(notGateway.metadata?.filterMetadata?.meshgate?.failClosed),
    /not served to this proxy: identity default\/gw is not a gateway's service account/,
  );
  // The gateway's pod, selected by a Gateway: its service account may hold default's credentials.
  const gwPod = pod('egress', 'default', '10.0.0.99', { istio: 'egressgateway' }, { sa: 'gw' });
  const egress: ConfigObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: { name: 'egress', namespace: 'default' },
    spec: {
      selector: { istio: 'egressgateway' },
      servers: [{ port: { number: 443, name: 'tls', protocol: 'TLS' }, hosts: ['api.example'], tls: { mode: 'PASSTHROUGH' } }],
    },
  };
  const missing = get(clustersOf([ext, rule, gwPod, egress], gw), 'outbound|443||api.example');
  assert.deepEqual(missing.loadAssignment?.endpoints, [], 'without the Secret the gateway cluster fails closed too');
  assert.match(String(missing.metadata?.filterMetadata?.meshgate?.failClosed), /"api-ca" in default has no usable CA certificate/);
  const caSecret: ConfigObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'api-ca', namespace: 'default' },
    data: { cacert: readFileSync(path.join(FIXTURES(), 'certs', 'root.crt')) },
  };
  const t = upstream(get(clustersOf([ext, rule, caSecret, gwPod, egress], gw), 'outbound|443||api.example'));
  assert.equal(t.commonTlsContext?.tlsCertificateSdsSecretConfigs, undefined, 'SIMPLE presents no client certificate');
  assert.equal(t.commonTlsContext?.combinedValidationContext?.validationContextSdsSecretConfig.name, 'kubernetes://api-ca-cacert');
  assert.deepEqual(t.commonTlsContext?.combinedValidationContext?.defaultValidationContext.matchTypedSubjectAltNames, [
    { sanType: 'DNS', matcher: { exact: 'api.internal' } },
  ]);
});

test("the DestinationRule in the proxy's namespace wins over one in the service's namespace", () => {
  const mine: DestinationRule = { ...dr('mine', 'db.other.svc.cluster.local', { loadBalancer: { simple: 'RANDOM' } }) };
  const theirs: DestinationRule = {
    ...dr('theirs', 'db', { loadBalancer: { simple: 'ROUND_ROBIN' } }),
    metadata: { name: 'theirs', namespace: 'other' },
  };
  const m = clustersOf([service('db', 'other', { app: 'db' }, [{ name: 'tcp', port: 1 }]), theirs, mine]);
  assert.equal(get(m, 'outbound|1||db.other.svc.cluster.local').lbPolicy, 'RANDOM');
});

test('a pod whose Ready condition is not True is left out of EDS, as the EndpointSlice controller does, unless the Service publishes not-ready addresses', () => {
  const withReady = (p: ReturnType<typeof pod>, status: string): ReturnType<typeof pod> => ({
    ...p,
    status: { ...p.status, conditions: [{ type: 'Ready', status }] },
  });
  const pods = [
    withReady(pod('w-1', 'default', '10.1.3.1', { app: 'w' }, { sidecar: true }), 'True'),
    withReady(pod('w-2', 'default', '10.1.3.2', { app: 'w' }, { sidecar: true }), 'False'),
    pod('w-3', 'default', '10.1.3.3', { app: 'w' }, { sidecar: true }), // no conditions: a pod from a config folder
  ];
  assert.deepEqual(
    Object.keys(
      endpointTlsModes(
        [service('w', 'default', { app: 'w' }, [{ name: 'tcp', port: 1 }]), ...pods],
        'outbound|1||w.default.svc.cluster.local',
      ),
    ),
    ['10.1.3.1', '10.1.3.3'],
  );
  const publishing = service('w', 'default', { app: 'w' }, [{ name: 'tcp', port: 1 }]);
  publishing.spec.publishNotReadyAddresses = true;
  assert.deepEqual(Object.keys(endpointTlsModes([publishing, ...pods], 'outbound|1||w.default.svc.cluster.local')), [
    '10.1.3.1',
    '10.1.3.2',
    '10.1.3.3',
  ]);
});
