// Every resource the model generates for the seed's four proxies survives Envoy's protobuf encoding
// (xds/codec.ts, with Envoy's protoc-gen-validate rules): encode, decode, and compare with what was
// generated, up to the fields proto3 does not transmit (default enum values, empty lists).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalResource } from '../../src/xds/codec.js';
import { checkSnapshotConsistency, snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import { TypeUrl, type ProxyResources } from '../../src/envoy/envoy-types.js';
import { generateProxyResources } from '../../src/model/generate.js';
import { clientSidecar, clusterA, clusterB, egressGateway, ingressGateway, serverSidecar } from './fixtures.js';

/** Enum values numbered 0 in Envoy's protos, which proto3 JSON leaves out (a oneof member such as Cluster.type keeps its presence). */
const DEFAULT_ENUMS: Record<string, string> = {
  lbPolicy: 'ROUND_ROBIN',
  healthStatus: 'UNKNOWN',
  action: 'ALLOW',
  protocol: 'TCP',
  trafficDirection: 'UNSPECIFIED',
  tlsMinimumProtocolVersion: 'TLS_AUTO',
  tlsMaximumProtocolVersion: 'TLS_AUTO',
};

/** What a resource looks like after proto3 drops defaults: no default enums, no empty lists. */
function withoutDefaults(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => withoutDefaults(x));
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(x) && x.length === 0) continue;
    if (typeof x === 'string' && DEFAULT_ENUMS[k] === x && key !== 'typedConfig') continue;
    out[k] = withoutDefaults(x, k);
  }
  return out;
}

function roundTripAll(name: string, r: ProxyResources): number {
  let n = 0;
  const check = (typeUrl: string, list: readonly object[]): void => {
    for (const res of list) {
      const label = `${name}: ${typeUrl.split('.').pop()} ${(res as { name?: string; clusterName?: string }).name ?? (res as { clusterName?: string }).clusterName}`;
      let back: Record<string, unknown>;
      try {
        back = canonicalResource(typeUrl, res);
      } catch (err) {
        throw new Error(`${label} does not encode: ${(err as Error).message}`, { cause: err });
      }
      assert.deepEqual(back, withoutDefaults(res), `${label} changed in the protobuf round trip`);
      n++;
    }
  };
  check(TypeUrl.Listener, r.listeners);
  check(TypeUrl.Cluster, r.clusters);
  check(TypeUrl.ClusterLoadAssignment, r.endpoints);
  check(TypeUrl.Secret, r.secrets);
  return n;
}

test('every generated resource of the four seed proxies round-trips through Envoy protobuf', async () => {
  const a = await clusterA();
  const b = await clusterB();
  let total = 0;
  total += roundTripAll('client-sidecar', generateProxyResources(a, clientSidecar));
  total += roundTripAll('egress-gateway', generateProxyResources(a, egressGateway));
  total += roundTripAll('ingress-gateway', generateProxyResources(b, ingressGateway));
  total += roundTripAll('server-sidecar', generateProxyResources(b, serverSidecar));
  assert.ok(total > 40, `only ${total} resources checked`);
});

test("each seed proxy's resources are a consistent xDS snapshot: every cluster, assignment and secret they name exists", async () => {
  const a = await clusterA();
  const b = await clusterB();
  const cases = [
    ['client-sidecar', generateProxyResources(a, clientSidecar)],
    ['egress-gateway', generateProxyResources(a, egressGateway)],
    ['ingress-gateway', generateProxyResources(b, ingressGateway)],
    ['server-sidecar', generateProxyResources(b, serverSidecar)],
  ] as const;
  for (const [name, r] of cases) assert.deepEqual(checkSnapshotConsistency(snapshotFromResources('1', r)), [], name);
});

test("in the lab's loopback form (captureMode NONE) the seed proxies are consistent too, with no two listeners on one address and port", async () => {
  const a = await clusterA();
  const b = await clusterB();
  const lo = <T extends typeof clientSidecar>(n: T, ip: string): T => ({ ...n, ips: [ip], interceptionMode: 'NONE' as const });
  const cases = [
    ['client-sidecar', generateProxyResources(a, lo(clientSidecar, '127.0.10.5'))],
    ['egress-gateway', generateProxyResources(a, lo(egressGateway, '127.0.10.20'))],
    ['ingress-gateway', generateProxyResources(b, lo(ingressGateway, '127.0.20.20'))],
    ['server-sidecar', generateProxyResources(b, lo(serverSidecar, '127.0.20.5'))],
  ] as const;
  for (const [name, r] of cases) {
    assert.deepEqual(checkSnapshotConsistency(snapshotFromResources('1', r)), [], name);
    const binds = r.listeners
      .filter((l) => l.bindToPort !== false)
      .map((l) => `${l.address.socketAddress?.address}:${l.address.socketAddress?.portValue}`);
    assert.equal(new Set(binds).size, binds.length, `${name} binds one address twice: ${binds.join(', ')}`);
    assert.ok(
      binds.every((b) => b.startsWith('127.')),
      `${name} binds outside loopback: ${binds.join(', ')}`,
    );
    roundTripAll(name, r);
  }
});
