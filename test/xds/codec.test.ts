import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeResource, decodeResource, encodeAny, decodeAny, encodeMessage, decodeMessage, XdsCodecError } from '../../src/xds/codec.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { NameTableTypeUrl } from '../../src/envoy/name-table.js';
import * as fx from './fixtures.js';

const shapes: [string, string, object][] = [
  [
    'virtual outbound listener (original_dst, tls_inspector, tcp_proxy, weighted clusters, access log)',
    TypeUrl.Listener,
    fx.virtualOutbound,
  ],
  ['gateway listener (SNI chains, DownstreamTlsContext, SDS, RBAC, raw_buffer)', TypeUrl.Listener, fx.ingressListener],
  ['EDS cluster with ISTIO_MUTUAL UpstreamTlsContext, circuit breakers, outlier detection', TypeUrl.Cluster, fx.edsCluster],
  ['STRICT_DNS cluster with MUTUAL origination from SDS', TypeUrl.Cluster, fx.staticDnsCluster],
  ['ORIGINAL_DST passthrough cluster', TypeUrl.Cluster, fx.originalDstCluster],
  ['STATIC cluster with inline TLS files and CRL', TypeUrl.Cluster, fx.inlineTlsCluster],
  ['cluster load assignment with locality, health and metadata', TypeUrl.ClusterLoadAssignment, fx.assignment],
  ['SDS certificate secret', TypeUrl.Secret, fx.certSecret],
  ['SDS validation-context secret', TypeUrl.Secret, fx.caSecret],
  ['SDS generic secret', TypeUrl.Secret, fx.genericSecret],
  ['NDS name table', NameTableTypeUrl, fx.nameTable],
];

for (const [what, typeUrl, json] of shapes) {
  test(`round-trips a ${what} through Envoy's protobuf encoding unchanged`, () => {
    const bytes = encodeResource(typeUrl, json);
    assert.ok(bytes.length > 0);
    assert.deepEqual(decodeResource(typeUrl, bytes), JSON.parse(JSON.stringify(json)));
  });
}

test('packs and unpacks an Any with its type URL, including well-known types', () => {
  const packed = encodeAny({ '@type': TypeUrl.Secret, ...fx.certSecret });
  assert.equal(packed.typeUrl, TypeUrl.Secret);
  assert.deepEqual(decodeAny(packed), { '@type': TypeUrl.Secret, ...JSON.parse(JSON.stringify(fx.certSecret)) });
  const d = encodeAny({ '@type': 'type.googleapis.com/google.protobuf.Duration', value: '0.25s' });
  assert.deepEqual(decodeAny(d), { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '0.250s' });
});

test('writes durations in canonical form and drops proto3 default values', () => {
  const l = decodeResource(
    TypeUrl.Listener,
    encodeResource(TypeUrl.Listener, {
      name: 'l',
      address: { socketAddress: { address: '127.0.0.1', portValue: 1 } },
      filterChains: [],
      listenerFiltersTimeout: '1.5s',
      continueOnListenerFiltersTimeout: false,
    }),
  );
  assert.equal(l.listenerFiltersTimeout, '1.500s');
  assert.equal('continueOnListenerFiltersTimeout' in l, false);
  assert.equal('filterChains' in l, false);
});

test('accepts proto field names as well as JSON names, and 64-bit integers as strings', () => {
  const c = decodeResource(
    TypeUrl.Cluster,
    encodeResource(TypeUrl.Cluster, { name: 'c', connect_timeout: '1s', outlier_detection: { consecutive_5xx: 2 } }),
  );
  assert.deepEqual(c, { name: 'c', connectTimeout: '1s', outlierDetection: { consecutive5xx: 2 } });
});

function codecError(fn: () => unknown, pathRe: RegExp, reasonRe: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof XdsCodecError, `expected XdsCodecError, got ${String(e)}`);
    assert.equal(e.code, 'E_XDS_CODEC');
    assert.match(e.path, pathRe);
    assert.match(e.reason, reasonRe);
    return true;
  });
}

test('refuses an unknown field, naming its path inside the nested Any', () => {
  const bad = structuredClone(fx.virtualOutbound) as unknown as { filterChains: { filters: { typedConfig: Record<string, unknown> }[] }[] };
  bad.filterChains[0]!.filters[0]!.typedConfig.clusterName = 'x';
  codecError(
    () => encodeResource(TypeUrl.Listener, bad),
    /virtualOutbound.*filterChains\[0\]\.filters\[0\]\.typedConfig\.clusterName$/,
    /unknown field/,
  );
});

test('refuses wrong types: a string port, an unknown enum name, an array for a message', () => {
  codecError(
    () =>
      encodeResource(TypeUrl.Cluster, {
        name: 'c',
        connectTimeout: '1s',
        loadAssignment: {
          clusterName: 'c',
          endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '1.2.3.4', portValue: 'x' } } } }] }],
        },
      }),
    /loadAssignment\.endpoints\[0\]\.lbEndpoints\[0\]\.endpoint\.address\.socketAddress\.portValue/,
    /expected an integer/,
  );
  codecError(() => encodeResource(TypeUrl.Cluster, { name: 'c', lbPolicy: 'FASTEST' }), /lbPolicy/, /not a value of enum LbPolicy/);
  codecError(() => encodeResource(TypeUrl.Cluster, { name: 'c', outlierDetection: [] }), /outlierDetection/, /expected an object/);
  codecError(() => encodeResource(TypeUrl.Cluster, { name: 'c', connectTimeout: '10 seconds' }), /connectTimeout/, /duration/);
});

test('refuses what Envoy validation rejects: empty stat_prefix, port above 65535, no cluster in tcp_proxy, two members of a oneof', () => {
  const tcp = (cfg: object): object => ({
    name: 'l',
    address: { socketAddress: { address: '0.0.0.0', portValue: 1 } },
    filterChains: [{ filters: [{ name: 'tcp', typedConfig: { '@type': TypeUrl.TcpProxy, ...cfg } }] }],
  });
  codecError(() => encodeResource(TypeUrl.Listener, tcp({ statPrefix: '', cluster: 'c' })), /typedConfig\.statPrefix/, /required/);
  codecError(
    () => encodeResource(TypeUrl.Listener, tcp({ statPrefix: 's' })),
    /typedConfig/,
    /one of cluster, weightedClusters.* is required/,
  );
  codecError(
    () =>
      encodeResource(TypeUrl.Listener, tcp({ statPrefix: 's', cluster: 'c', weightedClusters: { clusters: [{ name: 'a', weight: 1 }] } })),
    /weightedClusters/,
    /oneof/,
  );
  codecError(
    () => encodeResource(TypeUrl.Listener, { name: 'l', address: { socketAddress: { address: '0.0.0.0', portValue: 70000 } } }),
    /socketAddress\.portValue/,
    /at most 65535/,
  );
  codecError(() => encodeResource(TypeUrl.Cluster, { name: '' }), /Cluster|name/, /required/);
});

test('refuses an Any whose type is not a known Envoy message', () => {
  codecError(() => encodeAny({ '@type': 'type.googleapis.com/envoy.Nope' }), /@type/, /unknown message type/);
  codecError(() => decodeAny({ typeUrl: 'type.googleapis.com/envoy.Nope', value: Buffer.alloc(0) }), /@type/, /unknown message type/);
});

test('refuses malformed protobuf bytes on decode', () => {
  codecError(() => decodeResource(TypeUrl.Listener, Buffer.from([0x0a, 0xff, 0xff, 0xff])), /^$/, /malformed/);
});

test('a resource whose @type disagrees with the stream type is refused', () => {
  codecError(() => encodeResource(TypeUrl.Cluster, { '@type': TypeUrl.Listener, name: 'x' }), /@type/, /encoded as/);
});

test('encodes and decodes the xDS Node message with Struct metadata', () => {
  const node = {
    id: 'sidecar~127.0.0.1~a.default~default.svc.cluster.local',
    cluster: 'a.default',
    metadata: { NAMESPACE: 'default', LABELS: { app: 'a' }, N: 1.5, B: true },
  };
  assert.deepEqual(decodeMessage('envoy.config.core.v3.Node', encodeMessage('envoy.config.core.v3.Node', node)), node);
});
