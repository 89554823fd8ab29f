// What one proxied connection keeps alive for its whole life: no connect-time closures on its upstream
// socket, and a peer identity without the strings only a refusal needs — while resumption, refusal
// messages and filter chain matching behave as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type tls from 'node:tls';
import type { UpstreamConnection } from '../../src/proxy/cluster.js';
import { compileChainMatch, selectFilterChain, type ConnectionFacts } from '../../src/proxy/filter-chain-match.js';
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
  spiffe,
  staticCluster,
  tcpProxyFilter,
  upstreamTls,
  waitFor,
} from './helpers.js';

async function upstreamConnection(proxy: ReturnType<typeof newProxy>['proxy'], cluster: string): Promise<UpstreamConnection> {
  const c = proxy.getCluster(cluster)!;
  return new Promise((resolve, reject) => {
    c.connect(c.hosts[0]!, (err, conn) => (err || !conn ? reject(new Error(err?.reason ?? 'no connection')) : resolve(conn)));
  });
}

test('an upstream TLS connection keeps no connect-time listener: one shared session listener, and the next connection resumes', async (t) => {
  const ca = await makeCa('mesh');
  const server = await issue(ca, { uris: [spiffe('app', 'server')] });
  const client = await issue(ca, { uris: [spiffe('app', 'client')] });
  const echo = await echoServer(t, { tls: { cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true } });
  const { proxy } = newProxy(t);
  proxy.applySecrets([certSecret('default', client), caSecret('ROOTCA', ca)]);
  proxy.applyClusters([staticCluster('up', [{ port: echo.port }], { transportSocket: upstreamTls() })]);

  const first = await upstreamConnection(proxy, 'up');
  t.after(() => first.socket.destroy());
  // TLS 1.3 tickets arrive after the handshake: wait until one was saved for the host. The connection
  // carries a byte, as a real one does (Bun reads the tickets only once the socket is read or written).
  const saved = new Promise((r) => first.socket.once('session', r));
  first.socket.write('x');
  await saved;
  const second = await upstreamConnection(proxy, 'up');
  t.after(() => second.socket.destroy());
  assert.equal(second.sessionReused, true, 'the saved session is resumed');

  for (const conn of [first, second]) {
    const s = conn.socket as tls.TLSSocket;
    assert.equal(s.listenerCount('session'), 1);
    assert.equal(s.listenerCount('secureConnect'), 0, 'the handshake listener is gone');
    assert.equal(s.listenerCount('connect'), 0);
  }
  // One function for every connection to the host: a per-connection closure would keep the connect
  // scope (options, callbacks, the cleared connect timer) alive as long as the connection.
  assert.equal(first.socket.listeners('session')[0], second.socket.listeners('session')[0]);
});

test('a downstream peer identity keeps only principal, SANs and serial; refusals still name the issuer and the expiry', async (t) => {
  const ca = await makeCa('mesh');
  const other = await makeCa('other-ca');
  const server = await issue(ca, { uris: [spiffe('app', 'server')] });
  const good = await issue(ca, { uris: [spiffe('app', 'client')] });
  const foreign = await issue(other, { uris: [spiffe('app', 'stranger')] });
  const expired = await issue(ca, { uris: [spiffe('app', 'late')], now: new Date(Date.now() - 7200_000), ttlSeconds: 3600 });
  const echo = await echoServer(t);
  const { proxy, logs } = newProxy(t);
  proxy.applySecrets([certSecret('default', server), caSecret('ROOTCA', ca)]);
  proxy.applyClusters([staticCluster('backend', [{ port: echo.port }])]);
  await proxy.applyListeners([listener('in', 0, [{ filters: [tcpProxyFilter('backend')], transportSocket: downstreamTls() }])]);
  const p = port(proxy, 'in');

  const ok = await roundTrip(p, 'hello', { cert: good.certPem, key: good.keyPem, ca: ca.certPem });
  assert.equal(ok.echoed, 'hello');
  await waitFor(() => logs.length >= 1, 5000, 'the access log line');
  assert.equal(logs[0]!.downstreamPeerPrincipal, spiffe('app', 'client'));
  assert.equal(logs[0]!.downstreamPeerSerial, good.serial);

  await roundTrip(p, 'x', { cert: foreign.certPem, key: foreign.keyPem, ca: ca.certPem });
  await roundTrip(p, 'x', { cert: expired.certPem, key: expired.keyPem, ca: ca.certPem });
  await waitFor(() => logs.length >= 3, 5000, 'the refusals');
  const reasons = logs.map((l) => l.downstreamTransportFailureReason).join('\n');
  assert.match(reasons, /issuer "CN=other-ca" of spiffe:\/\/cluster.local\/ns\/app\/sa\/stranger is not in the trusted CA bundle/);
  assert.match(reasons, /spiffe:\/\/cluster.local\/ns\/app\/sa\/late expired \w{3} +\d+ [\d:]+ \d{4} GMT/);
});

test('the peer identity read from a certificate holds no subject, issuer or expiry strings', async () => {
  const { peerIdentityOf } = await import('../../src/proxy/tls-context.js');
  const { X509Certificate } = await import('node:crypto');
  const ca = await makeCa('mesh');
  const leaf = await issue(ca, { uris: [spiffe('app', 'client')], cn: 'client' });
  const peer = peerIdentityOf(new X509Certificate(leaf.certPem))!;
  assert.deepEqual(Object.keys(peer).sort(), ['principal', 'sans', 'serial']);
  assert.equal(peer.principal, spiffe('app', 'client'));
  // Without a URI or DNS SAN the subject's CN is the principal, as before.
  const bare = await issue(ca, { cn: 'only-a-cn' });
  assert.equal(peerIdentityOf(new X509Certificate(bare.certPem))!.principal, 'only-a-cn');
});

test('filter chain selection: chains without address ranges ignore the addresses, prefix ranges still pick the longest match', () => {
  const facts = (o: Partial<ConnectionFacts>): ConnectionFacts => ({
    destinationIp: '10.0.0.1',
    destinationPort: 15443,
    sourceIp: '10.1.0.1',
    sourcePort: 40000,
    directSourceIp: '10.1.0.1',
    serverName: 'mysql.fqdn.example',
    transportProtocol: 'tls',
    applicationProtocols: [],
    ...o,
  });
  const sni = [compileChainMatch({ serverNames: ['mysql.fqdn.example'] }, 'l', 'c0'), compileChainMatch({}, 'l', 'c1')];
  // An address that is no IP at all cannot matter when no chain has a range.
  assert.equal(selectFilterChain(sni, facts({ destinationIp: 'not-an-ip', sourceIp: '', directSourceIp: '' })), 0);
  assert.equal(selectFilterChain(sni, facts({ serverName: 'other.example' })), 1);
  const ranged = [
    compileChainMatch({ prefixRanges: [{ addressPrefix: '10.0.0.0', prefixLen: 8 }] }, 'l', 'c0'),
    compileChainMatch({ prefixRanges: [{ addressPrefix: '10.0.0.0', prefixLen: 24 }] }, 'l', 'c1'),
  ];
  assert.equal(selectFilterChain(ranged, facts({})), 1, 'the longest prefix wins');
  assert.equal(selectFilterChain(ranged, facts({ destinationIp: '10.9.0.1' })), 0);
  assert.equal(selectFilterChain(ranged, facts({ destinationIp: '192.168.0.1' })), -1);
});
