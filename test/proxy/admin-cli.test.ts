// Admin endpoints and `meshgate proxy-config` read from a live proxy; graceful drain lets an open
// connection finish while new ones are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startAdmin } from '../../src/proxy/admin.js';
import { runProxyConfig } from '../../src/cli/proxy-config.js';
import { caSecret, certSecret, downstreamTls, echoServer, issue, listener, makeCa, newProxy, port, roundTrip, spiffe, staticCluster, tcpProxyFilter, TLS_INSPECTOR, upstreamTls } from './helpers.js';

test('proxy-config prints listeners, clusters, endpoints and secrets as tables and JSON', async (t) => {
  const echo = await echoServer(t);
  const ca = await makeCa('mesh');
  const id = await issue(ca, { uris: [spiffe('istio-system', 'ingressgateway')] });
  const { proxy } = newProxy(t);
  proxy.setLocalSecret('default', certSecret('default', id));
  proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  proxy.applyClusters([staticCluster('outbound|3306||mysql.db.svc.cluster.local', [{ port: echo.port }])]);
  await proxy.applyListeners([listener('0.0.0.0_13306', 0, [{
    name: 'sni', filterChainMatch: { serverNames: ['mysql.fqdn.example'] }, transportSocket: downstreamTls(), filters: [tcpProxyFilter('outbound|3306||mysql.db.svc.cluster.local')],
  }], { listenerFilters: [TLS_INSPECTOR] })]);
  const admin = await startAdmin(proxy, { port: 0, statsPort: 0, readinessPort: 0 });
  t.after(() => admin.close());
  assert.equal(admin.address, '127.0.0.1', 'loopback by default');
  const run = async (kind: string, o = 'short'): Promise<string> => {
    let s = '';
    assert.equal(await runProxyConfig(kind, `127.0.0.1:${admin.port}`, o, (x) => { s += x; }), 0);
    return s;
  };
  const l = await run('listeners');
  assert.match(l, /^ADDRESSES\s+PORT\s+MATCH\s+DESTINATION/);
  assert.match(l, /127\.0\.0\.1\s+0\s+SNI: mysql\.fqdn\.example\s+Cluster: outbound\|3306\|\|mysql\.db\.svc\.cluster\.local/);
  assert.match(await run('clusters'), /mysql\.db\.svc\.cluster\.local\s+3306\s+-\s+outbound\s+STATIC/);
  assert.match(await run('endpoints'), new RegExp(`127\\.0\\.0\\.1:${echo.port}\\s+HEALTHY\\s+OK\\s+outbound\\|3306`));
  const sec = await run('secrets');
  assert.match(sec, new RegExp(`default\\s+Cert Chain\\s+ACTIVE\\s+true\\s+${id.serial.toLowerCase()}`));
  assert.match(sec, /ROOTCA\s+Ca\s+ACTIVE\s+true/);
  const j = JSON.parse(await run('listeners', 'json')) as { name: string }[];
  assert.equal(j[0]!.name, '0.0.0.0_13306', 'as istioctl: -o json prints the listeners themselves');
  await assert.rejects(runProxyConfig('routes', `127.0.0.1:${admin.port}`, 'short', () => undefined), /config type "routes" is not served by meshgate: its data plane is L4/);
  await assert.rejects(runProxyConfig('nonsense', `127.0.0.1:${admin.port}`, 'short', () => undefined), /unknown config type "nonsense"/);
  await assert.rejects(runProxyConfig('all', '127.0.0.1:1', 'short', () => undefined), /cannot reach the proxy admin/);
  // The Prometheus and readiness ports serve only their endpoint.
  assert.equal((await fetch(`http://127.0.0.1:${admin.statsPort}/stats/prometheus`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${admin.statsPort}/config_dump`)).status, 404);
  assert.equal((await fetch(`http://127.0.0.1:${admin.readinessPort}/healthz/ready`)).status, 200, 'ready once LDS and CDS applied');
});

test('graceful drain: new connections are refused, an open one finishes within the drain time', async (t) => {
  const echo = await echoServer(t);
  const { proxy } = newProxy(t);
  proxy.applyClusters([staticCluster('c', [{ port: echo.port }])]);
  await proxy.applyListeners([listener('l', 0, [{ filters: [tcpProxyFilter('c')] }])]);
  const p = port(proxy, 'l');
  assert.equal(proxy.isReady(), true);
  const open = net.connect({ host: '127.0.0.1', port: p });
  t.after(() => open.destroy());
  open.write('a');
  await new Promise((r) => open.once('data', r));
  const drained = proxy.drainListeners(5000);
  assert.equal(proxy.isReady(), false);
  assert.equal((await roundTrip(p, 'new')).echoed, '', 'new connections are refused while draining');
  open.write('b');
  const b = await new Promise<string>((r) => open.once('data', (d: Buffer) => r(d.toString())));
  assert.equal(b, 'b', 'the open connection keeps working during the drain');
  open.end();
  await drained;
});

test('readiness waits for the SDS secrets the first clusters and listeners name, then stays ready', async (t) => {
  const { proxy } = newProxy(t);
  const ca = await makeCa('readiness-ca');
  const leaf = await issue(ca, { dns: ['client.example'] });
  proxy.applyClusters([staticCluster('c', [{ port: 1 }], { transportSocket: upstreamTls({ cert: 'kubernetes://cred', ca: 'kubernetes://cred-cacert' }) })]);
  await proxy.applyListeners([listener('l', 0, [{ filters: [tcpProxyFilter('c')] }])]);
  assert.equal(proxy.isReady(), false, 'the cluster\'s credential has not arrived');
  proxy.applySecrets([certSecret('kubernetes://cred', leaf)]);
  assert.equal(proxy.isReady(), false, 'its CA has not arrived');
  proxy.applySecrets([certSecret('kubernetes://cred', leaf), caSecret('kubernetes://cred-cacert', ca)]);
  assert.equal(proxy.isReady(), true);
  proxy.applySecrets([]);
  assert.equal(proxy.isReady(), true, 'a secret withdrawn after start does not make the proxy unready');
});
