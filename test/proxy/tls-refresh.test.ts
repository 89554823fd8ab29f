// A secret update rebuilds the TLS contexts that are in use at once (Envoy rebuilds its SSL contexts when
// a secret changes), so the first handshake after a rotation does not build one; contexts never used stay
// lazy, and an update that changes none of a context's secrets rebuilds nothing.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { DownstreamTlsContext, UpstreamTlsContext } from '../../src/envoy/envoy-types.js';
import { SecretStore } from '../../src/proxy/secrets.js';
import { DownstreamTls, UpstreamTls } from '../../src/proxy/tls-context.js';
import {
  caSecret,
  certSecret,
  downstreamTls,
  echoServer,
  issue,
  listener,
  makeCa,
  newProxy,
  port,
  roundTrip,
  staticCluster,
  tcpProxyFilter,
  TLS_INSPECTOR,
  upstreamTls,
  type Pair,
} from './helpers.js';

let ca: Pair;
let v1: Pair;
let v2: Pair;
before(async () => {
  ca = await makeCa('refresh-ca');
  v1 = await issue(ca, { dns: ['v1.example'] });
  v2 = await issue(ca, { dns: ['v2.example'] });
});

const CERT = 'kubernetes://gw-credential';
const CA = 'kubernetes://gw-credential-cacert';

function downstream(): DownstreamTls {
  return new DownstreamTls(
    downstreamTls({ cert: CERT, ca: CA }).typedConfig as DownstreamTlsContext,
    'listener "t"',
    'transportSocket',
    10_000,
  );
}

function upstream(): UpstreamTls {
  return new UpstreamTls(upstreamTls({ cert: CERT, ca: CA }).typedConfig as UpstreamTlsContext, 'cluster "t"', 'transportSocket');
}

/** The server DownstreamTls holds for its current secret versions (what the next handshake gets). */
function heldServer(d: DownstreamTls): unknown {
  return (d as unknown as { cached?: { server: unknown } }).cached?.server;
}

function heldContext(u: UpstreamTls): unknown {
  return (u as unknown as { ctx?: unknown }).ctx;
}

test('a downstream context in use is rebuilt by refresh; an unused one stays lazy', () => {
  const store = new SecretStore();
  store.apply([certSecret(CERT, v1), caSecret(CA, ca)], 'sds');
  const used = downstream();
  const unused = downstream();
  const first = used.server(store);
  assert.ok(!('unavailable' in first));
  store.apply([certSecret(CERT, v2)], 'sds');
  used.refresh(store);
  unused.refresh(store);
  const rebuilt = heldServer(used);
  assert.notEqual(rebuilt, first.server, 'the new credential has its server before any handshake asks for it');
  const next = used.server(store);
  assert.ok(!('unavailable' in next));
  assert.equal(next.server, rebuilt, 'the next handshake takes the server refresh built');
  assert.equal(heldServer(unused), undefined, 'a context no handshake used builds nothing');
});

test('refresh after an update that leaves the secrets as they were keeps the server', () => {
  const store = new SecretStore();
  store.apply([certSecret(CERT, v1), caSecret(CA, ca)], 'sds');
  const d = downstream();
  const first = d.server(store);
  assert.ok(!('unavailable' in first));
  store.apply([certSecret('kubernetes://other', v2)], 'sds');
  d.refresh(store);
  assert.equal(heldServer(d), first.server);
});

test('an upstream context in use is rebuilt by refresh; an unused one stays lazy', () => {
  const store = new SecretStore();
  store.apply([certSecret(CERT, v1), caSecret(CA, ca)], 'sds');
  const used = upstream();
  const unused = upstream();
  const first = used.connectOptions(store, '127.0.0.1:1');
  assert.ok(!('unavailable' in first));
  store.apply([certSecret(CERT, v2)], 'sds');
  used.refresh(store);
  unused.refresh(store);
  assert.notEqual(heldContext(used), first.secureContext);
  const next = used.connectOptions(store, '127.0.0.1:1');
  assert.ok(!('unavailable' in next));
  assert.equal(next.secureContext, heldContext(used));
  assert.equal(heldContext(unused), undefined);
});

test('the proxy rebuilds the server of a chain in use when SDS rotates its certificate, before the next handshake', async (t) => {
  const echo = await echoServer(t);
  const { proxy } = newProxy(t);
  proxy.applySecrets([certSecret(CERT, v1), caSecret(CA, ca)]);
  proxy.applyClusters([staticCluster('backend', [{ port: echo.port }])]);
  await proxy.applyListeners([
    listener('gw', 0, [{ name: 'tls', transportSocket: downstreamTls({ cert: CERT, ca: CA }), filters: [tcpProxyFilter('backend')] }], {
      listenerFilters: [TLS_INSPECTOR],
    }),
  ]);
  const client = await issue(ca, { uris: ['spiffe://cluster.local/ns/app/sa/client'] });
  const opts = { cert: client.certPem, key: client.keyPem, ca: ca.certPem };
  const before = await roundTrip(port(proxy, 'gw'), 'x', opts);
  assert.equal(before.serverSerial, v1.serial, before.error);
  const chain = (
    proxy as unknown as { listenerManager: { listeners: Map<string, { config: { allChains(): { tls?: DownstreamTls }[] } }> } }
  ).listenerManager.listeners
    .get('gw')!
    .config.allChains()[0]!.tls!;
  const old = heldServer(chain);
  proxy.applySecrets([certSecret(CERT, v2)]);
  assert.notEqual(heldServer(chain), old, 'the SDS update itself built the new server');
  const after = await roundTrip(port(proxy, 'gw'), 'x', opts);
  assert.equal(after.serverSerial, v2.serial, after.error);
});
