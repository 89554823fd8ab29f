// tcp_proxy behaviour through one proxy: resets, idle timeout, connect attempts, circuit breaker,
// no-cluster / no-host flags, weighted clusters and upstream TLS failures, each with its response flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  caSecret,
  certSecret,
  closedPort,
  echoServer,
  issue,
  listener,
  makeCa,
  metric,
  newProxy,
  port,
  roundTrip,
  spiffe,
  staticCluster,
  tcpProxyFilter,
  upstreamTls,
  uriSan,
  waitFor,
} from './helpers.js';
import type { Cluster } from '../../src/envoy/envoy-types.js';

async function plainProxy(
  t: Parameters<typeof newProxy>[0],
  clusters: Cluster[],
  tcp: Record<string, unknown> = {},
  clusterName = clusters[0]?.name ?? 'none',
) {
  const r = newProxy(t);
  r.proxy.applyClusters(clusters);
  await r.proxy.applyListeners([listener('out', 0, [{ name: 'c', filters: [tcpProxyFilter(clusterName, tcp)] }])]);
  return { ...r, p: port(r.proxy, 'out') };
}

test('an upstream reset is propagated to the client as a reset', async (t) => {
  const server = net.createServer((s) => {
    s.once('data', () => s.resetAndDestroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { p, logs } = await plainProxy(t, [staticCluster('c1', [{ port: (server.address() as net.AddressInfo).port }])]);
  const s = net.connect({ host: '127.0.0.1', port: p });
  t.after(() => s.destroy());
  const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    s.on('connect', () => s.write('boom'));
    s.on('error', resolve);
    s.on('close', () => resolve(undefined));
  });
  assert.equal(err?.code, 'ECONNRESET');
  await waitFor(() => logs.length === 1, 3000, 'access log');
  assert.match(logs[0]!.responseFlags, /UC/);
  assert.match(logs[0]!.connectionTerminationDetails, /upstream ECONNRESET/);
});

test('a client reset is propagated upstream as a reset', async (t) => {
  let serverErr: string | undefined;
  const server = net.createServer((s) => {
    s.on('error', (e: NodeJS.ErrnoException) => {
      serverErr = e.code;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { p } = await plainProxy(t, [staticCluster('c1', [{ port: (server.address() as net.AddressInfo).port }])]);
  const s = net.connect({ host: '127.0.0.1', port: p });
  await new Promise((r) => s.once('connect', r));
  s.write('hello');
  await new Promise((r) => setTimeout(r, 100));
  s.resetAndDestroy();
  await waitFor(() => serverErr !== undefined, 3000, 'the server to see the reset');
  assert.equal(serverErr, 'ECONNRESET');
});

test('idle timeout closes a connection with no traffic either way', async (t) => {
  const echo = await echoServer(t);
  const { p, logs } = await plainProxy(t, [staticCluster('c1', [{ port: echo.port }])], { idleTimeout: '0.3s' });
  const s = net.connect({ host: '127.0.0.1', port: p });
  t.after(() => s.destroy());
  s.on('error', () => {
    /* closed by the proxy */
  });
  s.resume();
  await new Promise((r) => s.once('connect', r));
  s.write('x');
  await new Promise((r) => s.once('close', r));
  await waitFor(() => logs.length === 1, 3000, 'access log');
  assert.equal(logs[0]!.connectionTerminationDetails, 'idle_timeout');
  assert.equal(echo.sockets.size, 0, 'the upstream connection was closed too');
});

test('max_connect_attempts retries another host after a connect failure', async (t) => {
  const echo = await echoServer(t);
  const dead = await closedPort();
  const { p, logs, proxy } = await plainProxy(t, [staticCluster('c1', [{ port: dead }, { port: echo.port }])], { maxConnectAttempts: 2 });
  for (let i = 0; i < 4; i++) assert.equal((await roundTrip(p, `m${i}`)).echoed, `m${i}`);
  await waitFor(() => logs.length === 4, 3000, 'four access log lines');
  assert.ok(
    logs.every((l) => l.responseFlags === ''),
    logs.map((l) => l.responseFlags).join(),
  );
  assert.ok((await metric(proxy, 'meshgate_proxy_upstream_connect_failures_total', { cluster: 'c1', reason: 'connect' })) >= 1);
});

test('a connect failure without retries is UF with the reason, and counted', async (t) => {
  const dead = await closedPort();
  const { p, logs, proxy } = await plainProxy(t, [staticCluster('c1', [{ port: dead }])]);
  assert.equal((await roundTrip(p, 'x')).echoed, '');
  await waitFor(() => logs.length === 1, 3000, 'access log');
  assert.equal(logs[0]!.responseFlags, 'UF');
  assert.match(logs[0]!.upstreamTransportFailureReason, /ECONNREFUSED/);
  assert.equal(await metric(proxy, 'meshgate_proxy_upstream_connect_failures_total', { cluster: 'c1' }), 1);
  assert.equal(await metric(proxy, 'istio_tcp_connections_opened_total', { response_flags: 'UF' }), 1);
});

test('circuit breaker max_connections: the connection over the limit is refused with UO', async (t) => {
  const echo = await echoServer(t);
  const { p, logs, proxy } = await plainProxy(t, [
    staticCluster('c1', [{ port: echo.port }], { circuitBreakers: { thresholds: [{ maxConnections: 1 }] } }),
  ]);
  const held = net.connect({ host: '127.0.0.1', port: p });
  t.after(() => held.destroy());
  held.write('hold');
  await new Promise((r) => held.once('data', r));
  assert.equal((await roundTrip(p, 'over')).echoed, '');
  await waitFor(() => logs.length === 1, 3000, 'access log');
  assert.equal(logs[0]!.responseFlags, 'UO');
  assert.equal(await metric(proxy, 'meshgate_proxy_upstream_overflow_total', { cluster: 'c1' }), 1);
  held.destroy();
  await waitFor(() => echo.sockets.size === 0, 3000, 'held connection to close');
  assert.equal((await roundTrip(p, 'after')).echoed, 'after');
});

test('no cluster is NC, a cluster without healthy hosts is UH', async (t) => {
  const { p, logs } = await plainProxy(t, [{ name: 'eds', type: 'EDS', edsClusterConfig: { edsConfig: { ads: {} } } }], {}, 'eds');
  assert.equal((await roundTrip(p, 'x')).echoed, '');
  await waitFor(() => logs.length === 1, 3000, 'access log');
  assert.equal(logs[0]!.responseFlags, 'UH');
  const r2 = await plainProxy(t, [], {}, 'missing');
  assert.equal((await roundTrip(r2.p, 'x')).echoed, '');
  await waitFor(() => r2.logs.length === 1, 3000, 'access log');
  assert.equal(r2.logs[0]!.responseFlags, 'NC');
});

test('weighted clusters split by weight', async (t) => {
  const a = await echoServer(t);
  const b = await echoServer(t);
  const r = newProxy(t);
  r.proxy.applyClusters([staticCluster('a', [{ port: a.port }]), staticCluster('b', [{ port: b.port }])]);
  await r.proxy.applyListeners([
    listener('out', 0, [
      {
        filters: [
          {
            name: 'envoy.filters.network.tcp_proxy',
            typedConfig: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
              statPrefix: 'w',
              weightedClusters: {
                clusters: [
                  { name: 'a', weight: 100 },
                  { name: 'b', weight: 0 },
                ],
              },
            },
          },
        ],
      },
    ]),
  ]);
  for (let i = 0; i < 5; i++) assert.equal((await roundTrip(port(r.proxy, 'out'), 'w')).echoed, 'w');
  assert.equal(a.accepted(), 5);
  assert.equal(b.accepted(), 0);
});

test('upstream TLS: wrong server SAN and a missing client secret fail with UF and the reason', async (t) => {
  const ca = await makeCa('ca');
  const srv = await issue(ca, { uris: [spiffe('db', 'other')] });
  const echo = await echoServer(t, { tls: { cert: srv.certPem, key: srv.keyPem } });
  const { p, logs, proxy } = await plainProxy(t, [
    staticCluster('c1', [{ port: echo.port }], { transportSocket: upstreamTls({ sans: [uriSan(spiffe('db', 'mysql'))] }) }),
  ]);
  const client = await issue(ca, { uris: [spiffe('app', 'client')] });
  // No secrets yet: refused, never sent in the clear.
  assert.equal((await roundTrip(p, 'x')).echoed, '');
  await waitFor(() => logs.length === 1, 3000, 'access log');
  assert.equal(logs[0]!.responseFlags, 'UF');
  assert.match(logs[0]!.upstreamTransportFailureReason, /upstream TLS context of cluster "c1": secret "default" has not been received/);
  assert.equal(echo.accepted(), 0);
  proxy.setLocalSecret('default', certSecret('default', client));
  proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  assert.equal((await roundTrip(p, 'y')).echoed, '');
  await waitFor(() => logs.length === 2, 3000, 'access log');
  assert.match(
    logs[1]!.upstreamTransportFailureReason,
    /SAN mismatch: got spiffe:\/\/cluster.local\/ns\/db\/sa\/other, want URI:spiffe:\/\/cluster.local\/ns\/db\/sa\/mysql/,
  );
  assert.equal(await metric(proxy, 'meshgate_proxy_tls_handshake_failures_total', { side: 'upstream', name: 'c1' }), 2);
});

test("long-lived connections report their bytes periodically (Istio's tcp_reporting_duration), not only at close", async (t) => {
  const echo = await echoServer(t);
  const r = newProxy(t, { reportIntervalMs: 100 });
  r.proxy.applyClusters([staticCluster('c1', [{ port: echo.port }])]);
  await r.proxy.applyListeners([listener('out', 0, [{ filters: [tcpProxyFilter('c1')] }])]);
  const s = net.connect({ host: '127.0.0.1', port: port(r.proxy, 'out') });
  t.after(() => s.destroy());
  s.write('12345');
  await new Promise((res) => s.once('data', res));
  await waitFor(
    async () =>
      (await metric(r.proxy, 'istio_tcp_received_bytes_total')) === 5 && (await metric(r.proxy, 'istio_tcp_sent_bytes_total')) === 5,
    3000,
    'bytes reported while the connection is open',
  );
  assert.equal(await metric(r.proxy, 'istio_tcp_connections_closed_total'), 0);
  s.end();
  await waitFor(async () => (await metric(r.proxy, 'istio_tcp_connections_closed_total')) === 1, 3000, 'close reported');
  assert.equal(await metric(r.proxy, 'istio_tcp_received_bytes_total'), 5, 'bytes are not counted twice');
});
