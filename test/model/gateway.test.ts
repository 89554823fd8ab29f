// Gateway listeners: servers selected by the gateway pod's labels, TLS modes, SNI from hosts, routes
// from bound VirtualServices (match.gateways, match.port, sniHosts), and gateway credentials over SDS.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { ConfigObject, Gateway, GatewayServer, Secret, VirtualService } from '../../src/config/types.js';
import type { DownstreamTlsContext, Listener, TcpProxy } from '../../src/envoy/envoy-types.js';
import { generateProxyResources } from '../../src/model/generate.js';
import { proxyMayReadSecret } from '../../src/model/secrets.js';
import { parseServiceAccountRef } from '../../src/model/gateway-identity.js';
import { describeProxy } from '../../src/model/describe.js';
import { checkSnapshotConsistency, snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import { FIXTURES, pod, routerNode, service, sidecarNode, snapshotOf } from './fixtures.js';

const gwNode = routerNode({ podName: 'ingress-1', namespace: 'istio-system', labels: { istio: 'ingressgateway' } });

function gateway(name: string, servers: GatewayServer[], selector = { istio: 'ingressgateway' }): Gateway {
  return { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name, namespace: 'default' }, spec: { selector, servers } };
}

function vs(name: string, spec: VirtualService['spec']): VirtualService {
  return { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: 'default' }, spec };
}

const cert = (f: string): Buffer => readFileSync(path.join(FIXTURES(), 'certs', f));

function secret(name: string, data: Record<string, Buffer>, namespace = 'istio-system'): Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, data };
}

const credentials: ConfigObject[] = [
  secret('db-cert', { 'tls.crt': cert('server.crt'), 'tls.key': cert('server.key') }),
  secret('a', { 'tls.crt': cert('server.crt'), 'tls.key': cert('server.key'), 'ca.crt': cert('root.crt') }),
  secret('b', { cert: cert('server.crt'), key: cert('server.key'), cacert: cert('root.crt') }),
];

const backends: ConfigObject[] = [
  service('db', 'default', { app: 'db' }, [{ name: 'tcp', port: 5432 }], '10.96.0.10'),
  pod('db-1', 'default', '10.1.0.1', { app: 'db' }, { sidecar: true }),
  service('web', 'default', { app: 'web' }, [{ name: 'tls', port: 8443 }], '10.96.0.11'),
  service('istio-ingressgateway', 'istio-system', { istio: 'ingressgateway' }, [
    { name: 'tls', port: 443, targetPort: 8443 },
    { name: 'tcp', port: 5432 },
  ]),
  // The gateway's own pod: its service account is what makes gwNode's identity a gateway's.
  pod('ingress-1', 'istio-system', '10.0.0.99', { istio: 'ingressgateway' }, { sa: 'gw' }),
];

function gwListeners(objects: ConfigObject[], node = gwNode): Map<string, Listener> {
  return new Map(generateProxyResources(snapshotOf(objects), node).listeners.map((l) => [l.name, l]));
}

function downstream(l: Listener | undefined, i = 0): DownstreamTlsContext {
  return l?.filterChains[i]?.transportSocket?.typedConfig as DownstreamTlsContext;
}

test("SIMPLE with credentialName: SNI from hosts, kubernetes:// certificate, HTTP ALPN and Envoy's TLS defaults, listener on the Service targetPort", () => {
  const m = gwListeners([
    ...backends,
    ...credentials,
    gateway('gw', [
      {
        port: { number: 443, name: 'tls', protocol: 'TLS' },
        hosts: ['db.example.com'],
        tls: { mode: 'SIMPLE', credentialName: 'db-cert' },
      },
    ]),
    vs('db', { hosts: ['db.example.com'], gateways: ['gw'], tcp: [{ route: [{ destination: { host: 'db', port: { number: 5432 } } }] }] }),
  ]);
  const l = m.get('0.0.0.0_8443');
  assert.ok(l, `listeners: ${[...m.keys()].join(', ')}`);
  assert.deepEqual(l.filterChains[0]?.filterChainMatch, { serverNames: ['db.example.com'] });
  const d = downstream(l);
  assert.equal(d.requireClientCertificate, false);
  assert.equal(d.commonTlsContext?.tlsCertificateSdsSecretConfigs?.[0]?.name, 'kubernetes://db-cert');
  assert.equal(d.commonTlsContext?.combinedValidationContext, undefined);
  // Istio's BuildListenerTLSContext: no tlsParams unless the server sets them (Envoy's server default is TLS 1.2-1.3).
  assert.equal(d.commonTlsContext?.tlsParams, undefined);
  assert.deepEqual(d.commonTlsContext?.alpnProtocols, ['h2', 'http/1.1']);
  assert.equal((l.filterChains[0]?.filters[0]?.typedConfig as unknown as TcpProxy).cluster, 'outbound|5432||db.default.svc.cluster.local');
});

test('MUTUAL and OPTIONAL_MUTUAL verify clients against NAME-cacert; minProtocolVersion and cipherSuites are honoured', () => {
  const m = gwListeners([
    ...backends,
    ...credentials,
    gateway('gw', [
      {
        port: { number: 443, name: 'a', protocol: 'TLS' },
        hosts: ['a.example'],
        tls: { mode: 'MUTUAL', credentialName: 'a', subjectAltNames: ['client.example'], minProtocolVersion: 'TLSV1_3' },
      },
      {
        port: { number: 443, name: 'b', protocol: 'TLS' },
        hosts: ['b.example'],
        tls: { mode: 'OPTIONAL_MUTUAL', credentialName: 'b', cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256'] },
      },
    ]),
    vs('ab', { hosts: ['a.example', 'b.example'], gateways: ['gw'], tcp: [{ route: [{ destination: { host: 'db' } }] }] }),
  ]);
  const l = m.get('0.0.0.0_8443');
  const a = downstream(l, 0);
  assert.equal(a.requireClientCertificate, true);
  assert.equal(a.commonTlsContext?.combinedValidationContext?.validationContextSdsSecretConfig.name, 'kubernetes://a-cacert');
  assert.deepEqual(a.commonTlsContext?.combinedValidationContext?.defaultValidationContext.matchTypedSubjectAltNames, [
    { sanType: 'DNS', matcher: { exact: 'client.example' } },
  ]);
  assert.equal(a.commonTlsContext?.tlsParams?.tlsMinimumProtocolVersion, 'TLSv1_3');
  const b = downstream(l, 1);
  assert.equal(b.requireClientCertificate, false);
  assert.equal(b.commonTlsContext?.combinedValidationContext?.validationContextSdsSecretConfig.name, 'kubernetes://b-cacert');
  assert.deepEqual(b.commonTlsContext?.tlsParams?.cipherSuites, ['ECDHE-ECDSA-AES128-GCM-SHA256']);
});

test('PASSTHROUGH routes by tls sniHosts without terminating; AUTO_PASSTHROUGH routes Istio SNI names to clusters', () => {
  const m = gwListeners([
    ...backends,
    gateway('gw', [
      { port: { number: 443, name: 'pass', protocol: 'TLS' }, hosts: ['*.example'], tls: { mode: 'PASSTHROUGH' } },
      { port: { number: 15443, name: 'auto', protocol: 'TLS' }, hosts: ['*.default.svc.cluster.local'], tls: { mode: 'AUTO_PASSTHROUGH' } },
    ]),
    vs('pass', {
      hosts: ['web.example'],
      gateways: ['gw'],
      tls: [{ match: [{ sniHosts: ['web.example'], port: 443 }], route: [{ destination: { host: 'web' } }] }],
    }),
  ]);
  const p = m.get('0.0.0.0_8443');
  assert.deepEqual(p?.filterChains[0]?.filterChainMatch, { serverNames: ['web.example'] });
  assert.equal(p?.filterChains[0]?.transportSocket, undefined);
  assert.equal(
    (p?.filterChains[0]?.filters[0]?.typedConfig as unknown as TcpProxy).cluster,
    'outbound|8443||web.default.svc.cluster.local',
  );
  const auto = m.get('0.0.0.0_15443');
  const names = auto?.filterChains.map((c) => c.filterChainMatch?.serverNames?.[0]);
  assert.deepEqual(names, ['outbound_.5432_._.db.default.svc.cluster.local', 'outbound_.8443_._.web.default.svc.cluster.local']);
  // Istio's builtAutoPassthroughFilterChains: only a mesh client's mTLS (one of Istio's ALPNs) passes, to the SNI-DNAT cluster.
  assert.deepEqual(auto?.filterChains[0]?.filterChainMatch?.applicationProtocols, [
    'istio',
    'istio-peer-exchange',
    'istio-http/1.0',
    'istio-http/1.1',
    'istio-h2',
  ]);
  assert.equal(
    (auto?.filterChains[0]?.filters[0]?.typedConfig as unknown as TcpProxy).cluster,
    'outbound_.5432_._.db.default.svc.cluster.local',
  );
});

test("AUTO_PASSTHROUGH routes to SNI-DNAT clusters: no TLS of their own (the client's mTLS passes through), EDS under the SNI name, only endpoints with a sidecar", () => {
  const r = generateProxyResources(
    snapshotOf([
      ...backends,
      pod('db-2', 'default', '10.1.0.2', { app: 'db' }),
      gateway('gw', [
        {
          port: { number: 15443, name: 'auto', protocol: 'TLS' },
          hosts: ['*.default.svc.cluster.local'],
          tls: { mode: 'AUTO_PASSTHROUGH' },
        },
      ]),
    ]),
    gwNode,
  );
  const name = 'outbound_.5432_._.db.default.svc.cluster.local';
  const dnat = r.clusters.find((c) => c.name === name);
  assert.ok(dnat, `no ${name}; clusters: ${r.clusters.map((c) => c.name).join(', ')}`);
  assert.equal(dnat.transportSocket, undefined);
  assert.equal(dnat.transportSocketMatches, undefined);
  assert.equal(dnat.edsClusterConfig?.serviceName, name);
  // The ordinary outbound cluster keeps auto mTLS for the gateway's own connections.
  assert.ok(r.clusters.find((c) => c.name === 'outbound|5432||db.default.svc.cluster.local')?.transportSocketMatches);
  const eps = r.endpoints
    .find((e) => e.clusterName === name)
    ?.endpoints.flatMap((l) => l.lbEndpoints.map((e) => e.endpoint.address.socketAddress?.address));
  assert.deepEqual(eps, ['10.1.0.1']);
  assert.deepEqual(checkSnapshotConsistency(snapshotFromResources('1', r)), [], "every chain's cluster and every EDS name is served");
});

test('routes pick by match.gateways and match.port; a server no route matches yields no listener', () => {
  const m = gwListeners([
    ...backends,
    gateway('gw', [
      { port: { number: 5432, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] },
      { port: { number: 9999, name: 'tcp2', protocol: 'TCP' }, hosts: ['*'] },
    ]),
    vs('tcp', {
      hosts: ['*'],
      gateways: ['gw', 'mesh'],
      tcp: [
        { match: [{ gateways: ['mesh'] }], route: [{ destination: { host: 'web' } }] },
        { match: [{ gateways: ['gw'], port: 5432 }], route: [{ destination: { host: 'db' } }] },
      ],
    }),
  ]);
  assert.deepEqual([...m.keys()], ['0.0.0.0_5432']);
  const l = m.get('0.0.0.0_5432');
  assert.equal(l?.filterChains[0]?.filterChainMatch, undefined);
  assert.equal((l?.filterChains[0]?.filters[0]?.typedConfig as unknown as TcpProxy).cluster, 'outbound|5432||db.default.svc.cluster.local');
});

test('a Gateway whose selector does not match the pod gives it nothing', () => {
  const m = gwListeners([
    ...backends,
    gateway('egress', [{ port: { number: 5432, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] }], { istio: 'egressgateway' }),
    vs('x', { hosts: ['*'], gateways: ['egress'], tcp: [{ route: [{ destination: { host: 'db' } }] }] }),
  ]);
  assert.equal(m.size, 0);
});

test('captureMode NONE binds gateway listeners to the pod address instead of 0.0.0.0', () => {
  const lo = routerNode({
    podName: 'ingress-1',
    namespace: 'istio-system',
    labels: { istio: 'ingressgateway' },
    ips: ['127.0.30.2'],
    interceptionMode: 'NONE',
  });
  const m = gwListeners(
    [
      ...backends,
      gateway('gw', [{ port: { number: 5432, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] }]),
      vs('x', { hosts: ['*'], gateways: ['gw'], tcp: [{ route: [{ destination: { host: 'db' } }] }] }),
    ],
    lo,
  );
  assert.deepEqual(m.get('127.0.30.2_5432')?.address, { socketAddress: { address: '127.0.30.2', portValue: 5432 } });
});

test('gateway secrets: certificate and CA from the gateway namespace, a separate NAME-cacert secret, nothing for an unusable secret', () => {
  const objects = [
    ...backends,
    gateway('gw', [
      { port: { number: 443, name: 'a', protocol: 'TLS' }, hosts: ['a.example'], tls: { mode: 'MUTUAL', credentialName: 'split' } },
      { port: { number: 443, name: 'b', protocol: 'TLS' }, hosts: ['b.example'], tls: { mode: 'SIMPLE', credentialName: 'mismatched' } },
    ]),
    vs('ab', { hosts: ['a.example', 'b.example'], gateways: ['gw'], tcp: [{ route: [{ destination: { host: 'db' } }] }] }),
    secret('split', { cert: cert('server.crt'), key: cert('server.key') }),
    secret('split-cacert', { cacert: cert('root.crt') }),
    secret('mismatched', { 'tls.crt': cert('server.crt'), 'tls.key': cert('client.key') }),
    secret('split', { cert: cert('client.crt'), key: cert('client.key') }, 'default'),
    pod('gw', 'default', '10.0.0.98', { istio: 'ingressgateway' }, { sa: 'gw' }),
  ];
  const snap = snapshotOf(objects);
  const r = generateProxyResources(snap, gwNode);
  assert.deepEqual(
    r.secrets.map((s) => s.name),
    ['kubernetes://split', 'kubernetes://split-cacert'],
  );
  assert.equal(
    Buffer.from(r.secrets[0]?.tlsCertificate?.certificateChain?.inlineBytes ?? '', 'base64').toString(),
    cert('server.crt').toString(),
    'the istio-system secret, not the one in default',
  );
  assert.equal(
    Buffer.from(r.secrets[1]?.validationContext?.trustedCa?.inlineBytes ?? '', 'base64').toString(),
    cert('root.crt').toString(),
  );

  assert.equal(proxyMayReadSecret(snap, gwNode, gwNode, 'kubernetes://split'), true);
  assert.equal(proxyMayReadSecret(snap, gwNode, gwNode, 'kubernetes://split-cacert'), true);
  assert.equal(proxyMayReadSecret(snap, gwNode, gwNode, 'kubernetes://default/split'), false, "never another namespace's");
  const otherNs = routerNode({ podName: 'gw', namespace: 'default', labels: { istio: 'ingressgateway' } });
  assert.equal(proxyMayReadSecret(snap, otherNs, otherNs, 'kubernetes://split'), true, 'a gateway reads its own namespace');
  assert.deepEqual(
    generateProxyResources(snap, otherNs).secrets,
    [],
    'default has split but no CA for it: the MUTUAL server gets no chain and no secret',
  );
  const side = sidecarNode({ podName: 'x', namespace: 'istio-system', labels: {} });
  assert.equal(proxyMayReadSecret(snap, side, side, 'kubernetes://split'), false, 'never a sidecar');
  assert.equal(proxyMayReadSecret(snap, side, side, 'default'), true);
  assert.equal(proxyMayReadSecret(snap, side, side, 'ROOTCA'), true);
});

test('a server whose credential is missing or unusable gets no chain; the other servers keep working', () => {
  const objects = [
    ...backends,
    ...credentials,
    gateway('gw', [
      { port: { number: 443, name: 'ok', protocol: 'TLS' }, hosts: ['a.example'], tls: { mode: 'MUTUAL', credentialName: 'a' } },
      { port: { number: 443, name: 'no-ca', protocol: 'TLS' }, hosts: ['c.example'], tls: { mode: 'MUTUAL', credentialName: 'db-cert' } },
      { port: { number: 443, name: 'gone', protocol: 'TLS' }, hosts: ['d.example'], tls: { mode: 'SIMPLE', credentialName: 'gone' } },
    ]),
    vs('all', { hosts: ['a.example', 'c.example', 'd.example'], gateways: ['gw'], tcp: [{ route: [{ destination: { host: 'db' } }] }] }),
  ];
  const r = generateProxyResources(snapshotOf(objects), gwNode);
  const l = r.listeners.find((x) => x.name === '0.0.0.0_8443');
  assert.deepEqual(
    l?.filterChains.map((c) => c.filterChainMatch?.serverNames),
    [['a.example']],
  );
  assert.deepEqual(
    r.secrets.map((s) => s.name),
    ['kubernetes://a', 'kubernetes://a-cacert'],
  );
});

test('gateway credentials go only to a service account a Gateway selects or the control plane names: claiming router gets no chain and no secret', () => {
  const objects = [
    ...backends,
    ...credentials,
    // In the gateway's namespace but selected by no Gateway.
    pod('sleep-1', 'istio-system', '10.0.0.50', { app: 'sleep' }, { sa: 'sleeper' }),
    gateway('gw', [
      {
        port: { number: 443, name: 'tls', protocol: 'TLS' },
        hosts: ['db.example.com'],
        tls: { mode: 'SIMPLE', credentialName: 'db-cert' },
      },
    ]),
    vs('db', { hosts: ['db.example.com'], gateways: ['gw'], tcp: [{ route: [{ destination: { host: 'db' } }] }] }),
  ];
  const snap = snapshotOf(objects);
  const own = generateProxyResources(snap, gwNode);
  assert.deepEqual(
    own.secrets.map((s) => s.name),
    ['kubernetes://db-cert'],
    "the Gateway-selected pod's service account gets its credential",
  );
  assert.ok(own.listeners.some((l) => l.name === '0.0.0.0_8443'));

  for (const sa of ['other', 'sleeper']) {
    // Same labels, same pod name, role router: only the proven service account differs.
    const impostor = routerNode({
      podName: 'ingress-1',
      namespace: 'istio-system',
      labels: { istio: 'ingressgateway' },
      serviceAccount: sa,
    });
    const r = generateProxyResources(snap, impostor);
    assert.deepEqual(r.secrets, [], `istio-system/${sa} gets no gateway secret`);
    assert.equal(
      r.listeners.find((l) => l.name === '0.0.0.0_8443'),
      undefined,
      'no listener naming a secret it will never be given',
    );
    assert.deepEqual(checkSnapshotConsistency(snapshotFromResources('1', r)), [], 'what it is given is consistent');
    const why = describeProxy(snap, impostor).find((d) => d.name === '0.0.0.0_8443');
    assert.match(
      why?.warnings.join('\n') ?? '',
      new RegExp(`credentialName "db-cert" is not served to this proxy: identity istio-system/${sa} is not a gateway's service account`),
    );
    assert.equal(proxyMayReadSecret(snap, impostor, impostor, 'kubernetes://db-cert'), false);
    // The node's claims never decide: a node naming the gateway's account on a stream proven as another.
    assert.equal(proxyMayReadSecret(snap, gwNode, impostor, 'kubernetes://db-cert'), false);
  }

  const allowed = { gatewayServiceAccounts: new Set([parseServiceAccountRef('istio-system/other')]) };
  const listed = routerNode({
    podName: 'ingress-9',
    namespace: 'istio-system',
    labels: { istio: 'ingressgateway' },
    serviceAccount: 'other',
  });
  assert.deepEqual(
    generateProxyResources(snap, listed, allowed).secrets.map((s) => s.name),
    ['kubernetes://db-cert'],
    "the control plane's list allows it",
  );
  assert.equal(proxyMayReadSecret(snap, listed, listed, 'kubernetes://db-cert', allowed), true);
  const elsewhere = { gatewayServiceAccounts: new Set(['default/other']) };
  assert.equal(
    proxyMayReadSecret(snap, listed, listed, 'kubernetes://db-cert', elsewhere),
    false,
    "an entry for another namespace does not reach istio-system's secrets",
  );
  assert.equal(
    proxyMayReadSecret(snap, gwNode, { namespace: 'default', serviceAccount: 'gw' }, 'kubernetes://db-cert'),
    false,
    'the secret is read in the proven namespace',
  );
});

test('a --gateway-service-account value must be NAMESPACE/NAME', () => {
  assert.equal(
    parseServiceAccountRef('istio-system/istio-ingressgateway-service-account'),
    'istio-system/istio-ingressgateway-service-account',
  );
  for (const bad of ['istio-system', 'a/b/c', '/x', 'Istio-System/x', 'ns/']) {
    assert.throws(
      () => parseServiceAccountRef(bad),
      (e: unknown) => (e as { code?: string }).code === 'E_SERVICE_ACCOUNT_REF',
      bad,
    );
  }
});

test('a tls block without mode is PASSTHROUGH, as Istio reads the enum: routed by SNI, never terminated with the certificate it names', () => {
  const m = gwListeners([
    ...backends,
    ...credentials,
    gateway('gw', [{ port: { number: 443, name: 'tls', protocol: 'TLS' }, hosts: ['*.example'], tls: { credentialName: 'db-cert' } }]),
    vs('pass', {
      hosts: ['web.example'],
      gateways: ['gw'],
      tls: [{ match: [{ sniHosts: ['web.example'], port: 443 }], route: [{ destination: { host: 'web' } }] }],
    }),
  ]);
  const l = m.get('0.0.0.0_8443');
  assert.equal(l?.filterChains.length, 1);
  assert.deepEqual(l?.filterChains[0]?.filterChainMatch, { serverNames: ['web.example'] });
  assert.equal(l?.filterChains[0]?.transportSocket, undefined, 'the client TLS passes through untouched');
  assert.equal(
    (l?.filterChains[0]?.filters[0]?.typedConfig as unknown as TcpProxy).cluster,
    'outbound|8443||web.default.svc.cluster.local',
  );
});
