// Clusters: load balancers, EDS updates and health, outlier ejection and return, DNS clusters
// re-resolved on their refresh rate, and ORIGINAL_DST behind a useOriginalDst listener that hands
// connections to virtual listeners (Istio's 15001/15006 pattern).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { closedPort, echoServer, listener, metric, newProxy, port, roundTrip, staticCluster, tcpProxyFilter, waitFor } from './helpers.js';
import type { Cluster, ClusterLoadAssignment } from '../../src/envoy/envoy-types.js';

async function lbProxy(t: Parameters<typeof newProxy>[0], cluster: Cluster, opts: Parameters<typeof newProxy>[1] = {}) {
  const r = newProxy(t, opts);
  r.proxy.applyClusters([cluster]);
  await r.proxy.applyListeners([listener('out', 0, [{ filters: [tcpProxyFilter(cluster.name)] }])]);
  return { ...r, p: port(r.proxy, 'out') };
}

test('ROUND_ROBIN spreads connections evenly over the hosts', async (t) => {
  const hosts = await Promise.all([echoServer(t), echoServer(t), echoServer(t)]);
  const { p } = await lbProxy(
    t,
    staticCluster(
      'rr',
      hosts.map((h) => ({ port: h.port })),
    ),
  );
  for (let i = 0; i < 6; i++) assert.equal((await roundTrip(p, 'r')).echoed, 'r');
  assert.deepEqual(
    hosts.map((h) => h.accepted()),
    [2, 2, 2],
  );
});

test('LEAST_REQUEST picks the host with fewer open connections of the two it samples', async (t) => {
  const hosts = await Promise.all([echoServer(t), echoServer(t)]);
  // The injected randomness makes the two samples always host 0 and host 1.
  let flip = 0;
  const { p } = await lbProxy(
    t,
    staticCluster(
      'lr',
      hosts.map((h) => ({ port: h.port })),
      { lbPolicy: 'LEAST_REQUEST' },
    ),
    { random: () => (flip++ % 2 === 0 ? 0 : 0.99) },
  );
  const held = net.connect({ host: '127.0.0.1', port: p });
  t.after(() => held.destroy());
  held.write('hold');
  await new Promise((r) => held.once('data', r));
  const busy = hosts[0]!.accepted() === 1 ? 0 : 1;
  for (let i = 0; i < 3; i++) assert.equal((await roundTrip(p, 'l')).echoed, 'l');
  assert.equal(hosts[busy]!.accepted(), 1, 'the busy host got no new connection');
  assert.equal(hosts[1 - busy]!.accepted(), 3);
});

test('RANDOM uses the injected randomness', async (t) => {
  const hosts = await Promise.all([echoServer(t), echoServer(t)]);
  const { p } = await lbProxy(
    t,
    staticCluster(
      'rnd',
      hosts.map((h) => ({ port: h.port })),
      { lbPolicy: 'RANDOM' },
    ),
    { random: () => 0.9 },
  );
  for (let i = 0; i < 3; i++) assert.equal((await roundTrip(p, 'x')).echoed, 'x');
  assert.deepEqual(
    hosts.map((h) => h.accepted()),
    [0, 3],
  );
});

test('EDS: endpoints arrive and change; UNHEALTHY hosts take no traffic', async (t) => {
  const a = await echoServer(t);
  const b = await echoServer(t);
  const { p, proxy, logs } = await lbProxy(t, {
    name: 'outbound|3306||db',
    type: 'EDS',
    edsClusterConfig: { edsConfig: { ads: {} }, serviceName: 'outbound|3306||db' },
  });
  assert.equal((await roundTrip(p, 'x')).echoed, '');
  await waitFor(() => logs.length === 1, 3000, 'UH log');
  assert.equal(logs[0]!.responseFlags, 'UH');
  const cla = (hs: { port: number; health?: 'HEALTHY' | 'UNHEALTHY' }[]): ClusterLoadAssignment => ({
    clusterName: 'outbound|3306||db',
    endpoints: [
      {
        lbEndpoints: hs.map((h) => ({
          endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: h.port } } },
          healthStatus: h.health ?? 'HEALTHY',
        })),
      },
    ],
  });
  proxy.applyEndpoints([cla([{ port: a.port }, { port: b.port, health: 'UNHEALTHY' }])]);
  for (let i = 0; i < 3; i++) assert.equal((await roundTrip(p, 'e')).echoed, 'e');
  assert.equal(a.accepted(), 3);
  assert.equal(b.accepted(), 0);
  proxy.applyEndpoints([cla([{ port: b.port }])]);
  assert.equal((await roundTrip(p, 'e')).echoed, 'e');
  assert.equal(b.accepted(), 1);
});

test('outlier detection ejects a host after consecutive connect failures and returns it after the ejection time', async (t) => {
  const good = await Promise.all([echoServer(t), echoServer(t)]);
  const dead = await closedPort();
  let now = 1_000_000;
  const { p, proxy } = await lbProxy(
    t,
    staticCluster('od', [{ port: dead }, ...good.map((h) => ({ port: h.port }))], {
      outlierDetection: { consecutive5xx: 2, baseEjectionTime: '30s', maxEjectionPercent: 100 },
    }),
    { now: () => now },
  );
  // Round robin reaches the dead host every third connection: two failures eject it.
  let failures = 0;
  for (let i = 0; i < 6; i++) if ((await roundTrip(p, 'o')).echoed !== 'o') failures++;
  assert.equal(failures, 2);
  assert.equal(await metric(proxy, 'meshgate_proxy_outlier_ejections_total', { cluster: 'od' }), 1);
  assert.deepEqual(
    proxy.clusterStatus()[0]!.hosts.map((h) => h.ejected),
    [true, false, false],
  );
  for (let i = 0; i < 6; i++) assert.equal((await roundTrip(p, 'o')).echoed, 'o', 'while ejected, every connection succeeds');
  now += 31_000;
  assert.deepEqual(
    proxy.clusterStatus()[0]!.hosts.map((h) => h.ejected),
    [false, false, false],
    'the host returns after base_ejection_time',
  );
  let failedAgain = 0;
  for (let i = 0; i < 3; i++) if ((await roundTrip(p, 'o')).echoed !== 'o') failedAgain++;
  assert.equal(failedAgain, 1, 'the returned host takes traffic again');
});

test('STRICT_DNS re-resolves on dnsRefreshRate and follows the new address; LOGICAL_DNS uses the first address', async (t) => {
  const one = await echoServer(t);
  // Same port on 127.0.0.2, so only the DNS answer decides where a connection goes.
  const two = net.createServer((s) => {
    twoAccepted++;
    s.pipe(s);
  });
  let twoAccepted = 0;
  await new Promise<void>((resolve, reject) => {
    two.once('error', reject);
    two.listen(one.port, '127.0.0.2', resolve);
  });
  t.after(() => new Promise<void>((r) => two.close(() => r())));
  let answer = ['127.0.0.1'];
  const resolver = async (name: string) => {
    assert.equal(name, 'db.example.internal');
    return answer.map((address) => ({ address }));
  };
  const c = (type: 'STRICT_DNS' | 'LOGICAL_DNS'): Cluster => ({
    name: type,
    type,
    dnsRefreshRate: '0.1s',
    connectTimeout: '1s',
    loadAssignment: {
      clusterName: type,
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: 'db.example.internal', portValue: one.port } } } }] }],
    },
  });
  const { p, proxy } = await lbProxy(t, c('STRICT_DNS'), { resolver });
  await waitFor(() => proxy.clusterStatus()[0]!.hosts.length === 1, 3000, 'first resolution');
  assert.equal((await roundTrip(p, 'd')).echoed, 'd');
  assert.equal(one.accepted(), 1);
  answer = ['127.0.0.2'];
  await waitFor(() => proxy.clusterStatus()[0]!.hosts[0]?.address === '127.0.0.2', 3000, 're-resolution');
  assert.equal((await roundTrip(p, 'd')).echoed, 'd');
  assert.equal(twoAccepted, 1);
  answer = ['127.0.0.1', '127.0.0.2'];
  const logical = await lbProxy(t, c('LOGICAL_DNS'), { resolver });
  await waitFor(() => logical.proxy.clusterStatus()[0]!.hosts.length === 1, 3000, 'logical resolution');
  assert.equal(logical.proxy.clusterStatus()[0]!.hosts[0]!.address, '127.0.0.1');
});

test('a useOriginalDst listener hands connections to the virtual listener of their original destination; ORIGINAL_DST connects there', async (t) => {
  const echo = await echoServer(t);
  const other = await echoServer(t);
  // Without iptables the original destination is what the capture layer would report; here the test plays
  // that role for connections to the outbound port, pointing them at `echo` or `other`.
  let target = echo.port;
  const r = newProxy(t, { originalDestination: () => ({ address: '127.0.0.1', port: target }) });
  r.proxy.applyClusters([
    { name: 'PassthroughCluster', type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', connectTimeout: '1s' },
    staticCluster(`outbound|${echo.port}||echo.default.svc.cluster.local`, [{ port: echo.port }]),
  ]);
  await r.proxy.applyListeners([
    listener('virtualOutbound', 0, [], {
      useOriginalDst: true,
      defaultFilterChain: { name: 'PassthroughFilterChain', filters: [tcpProxyFilter('PassthroughCluster')] },
      trafficDirection: 'OUTBOUND',
    }),
    listener(
      `0.0.0.0_${echo.port}`,
      echo.port,
      [{ name: 'echo-chain', filters: [tcpProxyFilter(`outbound|${echo.port}||echo.default.svc.cluster.local`)] }],
      { bindToPort: false, trafficDirection: 'OUTBOUND', address: { socketAddress: { address: '0.0.0.0', portValue: echo.port } } },
    ),
  ]);
  const p = port(r.proxy, 'virtualOutbound');
  assert.equal((await roundTrip(p, 'to echo')).echoed, 'to echo');
  target = other.port;
  assert.equal((await roundTrip(p, 'passthrough')).echoed, 'passthrough');
  await waitFor(() => r.logs.length === 2, 3000, 'two access log lines');
  assert.equal(r.logs[0]!.listener, `0.0.0.0_${echo.port}`);
  assert.equal(r.logs[0]!.upstreamCluster, `outbound|${echo.port}||echo.default.svc.cluster.local`);
  assert.equal(r.logs[1]!.listener, 'virtualOutbound');
  assert.equal(r.logs[1]!.filterChain, 'PassthroughFilterChain');
  assert.equal(r.logs[1]!.upstreamHost, `127.0.0.1:${other.port}`);
  assert.equal(other.accepted(), 1);
});
