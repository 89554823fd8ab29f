// MG0012: valid Istio config that meshgate's L4 data plane does not serve is a Warning naming the
// field with its file:line, never silently dropped; config meshgate serves gets no such warning.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { loadConfigText } from '../../src/config/load.js';

const lines = (yaml: string): string[] => loadConfigText(yaml, 'in.yaml').diagnostics.map(formatDiagnostic);

test('a VirtualService with http routes is warned about at spec.http, and still loads', () => {
  const yaml = [
    'apiVersion: networking.istio.io/v1',
    'kind: VirtualService',
    'metadata: {name: web, namespace: shop}',
    'spec:',
    '  hosts: [web.shop.svc.cluster.local]',
    '  http:',
    '  - route:',
    '    - destination: {host: web.shop.svc.cluster.local}',
    '',
  ].join('\n');
  const r = loadConfigText(yaml, 'in.yaml');
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    "in.yaml:6:3: Warning [MG0012] (VirtualService shop/web) spec.http: HTTP routes are not served: meshgate's data plane is L4 (TCP and TLS); nothing serves this route. Use tcp or tls routes",
  ]);
  assert.equal(r.objects.length, 1, 'the object is kept: the warning does not reject it');
});

test('http routes beside tcp routes: the warning says only the tcp and tls routes apply', () => {
  const out = lines(
    'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: db}\nspec:\n  hosts: [db.example]\n  http:\n  - route: [{destination: {host: db.example}}]\n  - route: [{destination: {host: db.example}}]\n  tcp:\n  - route: [{destination: {host: db.example}}]\n',
  );
  assert.deepEqual(out, [
    "in.yaml:6:3: Warning [MG0012] (VirtualService default/db) spec.http: HTTP routes are not served: meshgate's data plane is L4 (TCP and TLS); nothing serves these 2 routes, only the tcp and tls routes apply. Use tcp or tls routes",
  ]);
});

test('HTTP-only and unbuilt DestinationRule fields are warned about wherever they sit: top level, port level, subsets', () => {
  const diags = loadConfigText(
    [
      'apiVersion: networking.istio.io/v1',
      'kind: DestinationRule',
      'metadata: {name: web}',
      'spec:',
      '  host: web.example',
      '  trafficPolicy:',
      '    connectionPool:',
      '      tcp: {maxConnections: 10, maxConnectionDuration: 1h}',
      '      http: {http1MaxPendingRequests: 10}',
      '    loadBalancer:',
      '      consistentHash: {httpHeaderName: x-user}',
      '    portLevelSettings:',
      '    - port: {number: 80}',
      '      connectionPool:',
      '        http: {maxRetries: 3}',
      '  subsets:',
      '  - name: v1',
      '    labels: {version: v1}',
      '    trafficPolicy:',
      '      loadBalancer: {simple: ROUND_ROBIN, localityLbSetting: {enabled: true}}',
      '      proxyProtocol: {version: V1}',
      '',
    ].join('\n'),
    'in.yaml',
  ).diagnostics;
  assert.deepEqual(
    diags.map((d) => `${d.level} ${d.code} ${d.file}:${d.line}:${d.column} ${d.field}`),
    [
      'Warning MG0012 in.yaml:8:33 spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration',
      'Warning MG0012 in.yaml:9:7 spec.trafficPolicy.connectionPool.http',
      'Warning MG0012 in.yaml:11:7 spec.trafficPolicy.loadBalancer.consistentHash',
      'Warning MG0012 in.yaml:15:9 spec.trafficPolicy.portLevelSettings[0].connectionPool.http',
      'Warning MG0012 in.yaml:20:43 spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting',
      'Warning MG0012 in.yaml:21:7 spec.subsets[0].trafficPolicy.proxyProtocol',
    ],
  );
  assert.equal(
    diags[1]!.message,
    "HTTP connection-pool settings are not served: meshgate's data plane is L4 (TCP and TLS); only connectionPool.tcp applies",
  );
});

test('a Gateway server with an HTTP protocol, and httpsRedirect, are warned about; a TLS server is not', () => {
  const out = lines(
    [
      'apiVersion: networking.istio.io/v1',
      'kind: Gateway',
      'metadata: {name: gw}',
      'spec:',
      '  selector: {istio: ingressgateway}',
      '  servers:',
      '  - port: {number: 443, name: tls, protocol: TLS}',
      '    hosts: [db.example]',
      '    tls: {mode: PASSTHROUGH}',
      '  - port:',
      '      number: 80',
      '      name: http',
      '      protocol: http',
      '    hosts: ["*"]',
      '    tls: {httpsRedirect: true}',
      '  - port: {number: 8080, name: grpc, protocol: GRPC}',
      '    hosts: ["*"]',
      '',
    ].join('\n'),
  );
  assert.deepEqual(out, [
    "in.yaml:13:7: Warning [MG0012] (Gateway default/gw) spec.servers[1].port.protocol: a server with protocol HTTP is not served: meshgate's data plane is L4 (TCP and TLS); this server gets no listener. Use protocol TLS or TCP",
    "in.yaml:15:11: Warning [MG0012] (Gateway default/gw) spec.servers[1].tls.httpsRedirect: httpsRedirect is an HTTP feature and is not served: meshgate's data plane is L4 (TCP and TLS)",
    "in.yaml:16:38: Warning [MG0012] (Gateway default/gw) spec.servers[2].port.protocol: a server with protocol GRPC is not served: meshgate's data plane is L4 (TCP and TLS); this server gets no listener. Use protocol TLS or TCP",
  ]);
});

test('config meshgate serves (tcp and tls routes, tcp pool, simple balancing) gets no MG0012', () => {
  const out = lines(
    'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: db}\nspec:\n  hosts: [db.example]\n  tcp:\n  - route: [{destination: {host: db.example}}]\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: db}\nspec:\n  host: db.example\n  trafficPolicy:\n    connectionPool: {tcp: {maxConnections: 5, idleTimeout: 1h}}\n    loadBalancer: {simple: RANDOM}\n    outlierDetection: {consecutive5xxErrors: 3}\n',
  );
  assert.deepEqual(out, []);
});

test('a ServiceEntry with resolution DYNAMIC_DNS is warned about at spec.resolution, and still loads', () => {
  const r = loadConfigText(
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: dyn}\nspec:\n  hosts: ["*.dyn.example"]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n  resolution: DYNAMIC_DNS\n',
    'in.yaml',
  );
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    'in.yaml:7:3: Warning [MG0012] (ServiceEntry default/dyn) spec.resolution: resolution DYNAMIC_DNS is not served: it needs a dynamic forward proxy, which meshgate does not have; these wildcard hosts get no cluster, so their traffic follows outboundTrafficPolicy (PassthroughCluster under ALLOW_ANY). Use DNS with explicit hosts',
  ]);
  assert.equal(r.objects.length, 1);
});
