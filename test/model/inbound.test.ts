// Sidecar inbound: PeerAuthentication modes per port, L4 AuthorizationPolicy as the RBAC network
// filter, and the loopback (captureMode NONE) form.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuthorizationPolicy, ConfigObject, PeerAuthentication } from '../../src/config/types.js';
import type { FilterChain, Listener, NetworkRbac } from '../../src/envoy/envoy-types.js';
import { tcpRule } from '../../src/model/authorization.js';
import { generateProxyResources } from '../../src/model/generate.js';
import { pod, service, sidecarNode, snapshotOf } from './fixtures.js';

const server = sidecarNode({ podName: 'db-1', namespace: 'default', labels: { app: 'db' }, ips: ['10.1.0.1'], serviceAccount: 'db' });
const base: ConfigObject[] = [
  service(
    'db',
    'default',
    { app: 'db' },
    [
      { name: 'tcp', port: 5432, targetPort: 'pg' },
      { name: 'tcp-metrics', port: 9100 },
    ],
    '10.96.0.10',
  ),
  pod('db-1', 'default', '10.1.0.1', { app: 'db' }, { sidecar: true, sa: 'db', ports: [{ containerPort: 15432, name: 'pg' }] }),
];

function pa(name: string, spec: PeerAuthentication['spec'], namespace = 'default'): PeerAuthentication {
  return { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace }, spec };
}

function ap(name: string, spec: AuthorizationPolicy['spec'], namespace = 'default'): AuthorizationPolicy {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace }, spec };
}

function inbound(objects: ConfigObject[], node = server): Listener {
  const l = generateProxyResources(snapshotOf(objects), node).listeners.find((x) => x.name === 'virtualInbound');
  assert.ok(l, 'virtualInbound missing');
  return l;
}

function chainsFor(l: Listener, port: number): FilterChain[] {
  return l.filterChains.filter((c) => c.filterChainMatch?.destinationPort === port);
}

test('inbound ports are the Service targetPorts (named ones resolved on the pod), each with an inbound|PORT|| cluster dialling the original destination from 127.0.0.6', () => {
  const r = generateProxyResources(snapshotOf(base), server);
  const l = r.listeners.find((x) => x.name === 'virtualInbound');
  assert.deepEqual(
    [...new Set(l?.filterChains.map((c) => c.filterChainMatch?.destinationPort).filter((p) => p !== undefined))],
    [15006, 9100, 15432],
  );
  const c = r.clusters.find((x) => x.name === 'inbound|15432||');
  // Istio >= 1.10: ORIGINAL_DST (the pod IP the client dialled), source bound to 127.0.0.6, host cleanup off.
  assert.equal(c?.type, 'ORIGINAL_DST');
  assert.equal(c?.lbPolicy, 'CLUSTER_PROVIDED');
  assert.equal(c?.cleanupInterval, '9223372035s');
  assert.equal(c?.loadAssignment, undefined);
  assert.deepEqual(c?.upstreamBindConfig, { sourceAddress: { address: '127.0.0.6', portValue: 0 } });
  assert.deepEqual(r.clusters.find((x) => x.name === 'InboundPassthroughCluster')?.upstreamBindConfig, {
    sourceAddress: { address: '127.0.0.6', portValue: 0 },
  });
  assert.deepEqual(
    l?.listenerFilters?.map((f) => f.name),
    ['envoy.filters.listener.original_dst', 'envoy.filters.listener.tls_inspector'],
  );
});

test('PERMISSIVE (the default) accepts mesh mTLS by ALPN, other TLS as is, and plaintext', () => {
  const chains = chainsFor(inbound(base), 15432);
  assert.deepEqual(
    chains.map((c) => c.name),
    ['inbound|15432|mtls', 'inbound|15432|tls-passthrough', 'inbound|15432|plaintext'],
  );
  // Istio's allIstioMtlsALPNs on the match; the TLS context offers ALPNDownstreamWithMxc.
  assert.deepEqual(chains[0]?.filterChainMatch, {
    destinationPort: 15432,
    transportProtocol: 'tls',
    applicationProtocols: ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'],
  });
  const ctx = chains[0]?.transportSocket?.typedConfig as {
    requireClientCertificate?: boolean;
    commonTlsContext?: { alpnProtocols?: string[] };
  };
  assert.equal(ctx.requireClientCertificate, true);
  assert.deepEqual(ctx.commonTlsContext?.alpnProtocols, ['istio-peer-exchange', 'h2', 'http/1.1']);
  assert.equal(chains[2]?.transportSocket, undefined);
  assert.equal(chains[2]?.filterChainMatch?.transportProtocol, 'raw_buffer');
});

test('STRICT accepts only mTLS; portLevelMtls on a selector policy overrides one port; DISABLE is plaintext only', () => {
  const objects = [
    ...base,
    pa('ns', { mtls: { mode: 'STRICT' } }),
    pa('wl', { selector: { matchLabels: { app: 'db' } }, mtls: { mode: 'UNSET' }, portLevelMtls: { '9100': { mode: 'DISABLE' } } }),
  ];
  const l = inbound(objects);
  assert.deepEqual(
    chainsFor(l, 15432).map((c) => c.name),
    ['inbound|15432|mtls'],
  );
  assert.equal(chainsFor(l, 15432)[0]?.filterChainMatch?.transportProtocol, 'tls');
  assert.deepEqual(
    chainsFor(l, 9100).map((c) => c.name),
    ['inbound|9100|plaintext'],
  );
  assert.equal(chainsFor(l, 9100)[0]?.transportSocket, undefined);
});

test('a mesh-wide STRICT policy in the root namespace applies when the namespace sets none', () => {
  const l = inbound([...base, pa('mesh', { mtls: { mode: 'STRICT' } }, 'istio-system')]);
  assert.deepEqual(
    chainsFor(l, 15432).map((c) => c.name),
    ['inbound|15432|mtls'],
  );
});

test('AuthorizationPolicy becomes RBAC filters before tcp_proxy: DENY first, then ALLOW', () => {
  const objects = [
    ...base,
    ap('allow-client', {
      selector: { matchLabels: { app: 'db' } },
      action: 'ALLOW',
      rules: [
        {
          from: [{ source: { principals: ['cluster.local/ns/default/sa/client'], namespaces: ['default'] } }],
          to: [{ operation: { ports: ['15432'] } }],
        },
      ],
    }),
    ap('deny-net', { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['192.0.2.0/24'] } }] }] }),
  ];
  const chain = chainsFor(inbound(objects), 15432)[0];
  assert.deepEqual(
    chain?.filters.map((f) => f.name),
    ['envoy.filters.network.rbac', 'envoy.filters.network.rbac', 'envoy.filters.network.tcp_proxy'],
  );
  const deny = chain?.filters[0]?.typedConfig as unknown as NetworkRbac;
  assert.equal(deny.rules?.action, 'DENY');
  assert.deepEqual(deny.rules?.policies['ns[default]-policy[deny-net]-rule[0]'], {
    permissions: [{ any: true }],
    principals: [{ directRemoteIp: { addressPrefix: '192.0.2.0', prefixLen: 24 } }],
  });
  const allow = chain?.filters[1]?.typedConfig as unknown as NetworkRbac;
  assert.equal(allow.rules?.action, 'ALLOW');
  assert.deepEqual(allow.rules?.policies['ns[default]-policy[allow-client]-rule[0]'], {
    permissions: [{ destinationPort: 15432 }],
    principals: [
      {
        andIds: {
          ids: [
            { authenticated: { principalName: { exact: 'spiffe://cluster.local/ns/default/sa/client' } } },
            { authenticated: { principalName: { safeRegex: { regex: '.*/ns/default/.*' } } } },
          ],
        },
      },
    ],
  });
});

test('an ALLOW policy with no rules allows nothing; a policy for another workload does not apply', () => {
  const chain = chainsFor(
    inbound([
      ...base,
      ap('nothing', { selector: { matchLabels: { app: 'db' } } }),
      ap('other', { selector: { matchLabels: { app: 'web' } }, action: 'DENY', rules: [{}] }),
    ]),
    15432,
  )[0];
  const rbac = chain?.filters.filter((f) => f.name === 'envoy.filters.network.rbac').map((f) => f.typedConfig as unknown as NetworkRbac);
  assert.equal(rbac?.length, 1);
  assert.deepEqual(rbac?.[0]?.rules, { action: 'ALLOW', policies: {} });
});

test('HTTP-only fields: an ALLOW rule using them never matches on TCP, a DENY rule ignores them', () => {
  const rule = { to: [{ operation: { methods: ['GET'], ports: ['80'] } }] };
  assert.equal(tcpRule(rule, 'ALLOW').policy, undefined);
  assert.match(tcpRule(rule, 'ALLOW').note ?? '', /methods/);
  assert.deepEqual(tcpRule(rule, 'DENY').policy, { permissions: [{ destinationPort: 80 }], principals: [{ any: true }] });
  assert.deepEqual(tcpRule({ from: [{ source: { notPrincipals: ['*'] } }] }, 'DENY').policy?.principals, [
    { notId: { authenticated: { principalName: { safeRegex: { regex: '.+' } } } } },
  ]);
});

test('captureMode NONE: one bound listener per inbound port on the pod address', () => {
  const lo = sidecarNode({ podName: 'db-1', namespace: 'default', labels: { app: 'db' }, ips: ['127.0.20.5'], interceptionMode: 'NONE' });
  const ls = generateProxyResources(snapshotOf(base), lo).listeners.filter((l) => l.trafficDirection === 'INBOUND');
  assert.deepEqual(
    ls.map((l) => l.name),
    ['127.0.20.5_15432', '127.0.20.5_9100'],
  );
  assert.equal(ls[0]?.bindToPort, true);
  assert.equal(ls[0]?.filterChains.length, 3);
});
