// Downstream TLS on a listener: every way a client can fail the handshake or the identity check is
// refused with its own reason and counter, no upstream connection is opened for it, and the proxy keeps
// serving the next good client. SNI routing picks among several chains on one port.
import { test, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  caSecret,
  certSecret,
  downstreamTls,
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
  TLS_INSPECTOR,
  uriSan,
  waitFor,
  type Pair,
} from './helpers.js';

let meshCa: Pair;
let otherCa: Pair;
let serverCert: Pair;
let clientCert: Pair;
before(async () => {
  meshCa = await makeCa('mesh-ca');
  otherCa = await makeCa('other-ca');
  serverCert = await issue(meshCa, { uris: [spiffe('db', 'mysql')], dns: ['mysql.db.svc.cluster.local'] });
  clientCert = await issue(meshCa, { uris: [spiffe('app', 'client')] });
});

async function mtlsProxy(t: Parameters<typeof newProxy>[0], filtersTimeout = '10s') {
  const echo = await echoServer(t);
  const { proxy, logs, warnings } = newProxy(t);
  proxy.setLocalSecret('default', certSecret('default', serverCert));
  proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', meshCa));
  proxy.applyClusters([staticCluster('backend', [{ port: echo.port }])]);
  await proxy.applyListeners([
    listener(
      'inbound',
      0,
      [
        {
          name: 'mtls',
          filterChainMatch: { transportProtocol: 'tls' },
          transportSocket: downstreamTls({ sans: [uriSan(spiffe('app', 'client'))] }),
          filters: [tcpProxyFilter('backend')],
        },
      ],
      { listenerFilters: [TLS_INSPECTOR], listenerFiltersTimeout: filtersTimeout, trafficDirection: 'INBOUND' },
    ),
  ]);
  return { echo, proxy, logs, warnings, p: port(proxy, 'inbound') };
}

const goodClient = () => ({ cert: clientCert.certPem, key: clientCert.keyPem, ca: meshCa.certPem });

test('mutual TLS: a client with a mesh certificate and the expected SAN is proxied, identities logged', async (t) => {
  const { echo, proxy, logs, p } = await mtlsProxy(t);
  const r = await roundTrip(p, 'hello', goodClient());
  assert.equal(r.ok, true, r.error);
  assert.equal(r.echoed, 'hello');
  assert.equal(r.serverSerial, serverCert.serial);
  assert.equal(echo.accepted(), 1);
  await waitFor(() => logs.length === 1, 3000, 'access log line');
  assert.equal(logs[0]!.downstreamPeerPrincipal, spiffe('app', 'client'));
  assert.equal(logs[0]!.filterChain, 'mtls');
  assert.equal(logs[0]!.upstreamCluster, 'backend');
  assert.match(logs[0]!.downstreamTlsVersion, /TLSv1\.[23]/);
  assert.equal(
    await metric(proxy, 'istio_tcp_connections_opened_total', {
      reporter: 'destination',
      source_principal: spiffe('app', 'client'),
      connection_security_policy: 'mutual_tls',
    }),
    1,
  );
  await waitFor(async () => (await metric(proxy, 'istio_tcp_connections_closed_total')) === 1, 3000, 'closed counter');
  assert.equal(await metric(proxy, 'istio_tcp_received_bytes_total'), 5);
  assert.equal(await metric(proxy, 'istio_tcp_sent_bytes_total'), 5);
});

/**
 * A TLS 1.0 client with a mesh certificate: OpenSSL's s_client (`-tls1`, security level 0 so it may offer
 * it at all), since neither runtime's own client is made for it (Bun's cannot offer TLS 1.0). Resolves
 * with what it printed; the echo of `payload` would be in it had the proxy served it.
 */
async function tls10Client(t: TestContext, p: number, payload: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-tls10-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'cert.pem'), clientCert.certPem);
  await writeFile(path.join(dir, 'key.pem'), clientCert.keyPem, { mode: 0o600 });
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      [
        's_client',
        '-tls1',
        '-cipher',
        'DEFAULT@SECLEVEL=0',
        '-connect',
        `127.0.0.1:${p}`,
        '-cert',
        path.join(dir, 'cert.pem'),
        '-key',
        path.join(dir, 'key.pem'),
        '-quiet',
      ],
      { timeout: 8000 },
      (_err, stdout, stderr) => resolve(`${stdout}${stderr}`), // s_client exits non-zero when the handshake fails, which is the point
    );
    child.stdin?.end(`${payload}\n`);
  });
}

interface Case {
  name: string;
  client: () => Promise<Parameters<typeof roundTrip>[2] | 'plain' | 'garbage' | 'silent' | 'tls1.0'>;
  reason: RegExp;
  counter: string;
  /** The handshake failure counter's reason code. */ tls?: string;
}

const cases: Case[] = [
  {
    name: 'a client with no certificate',
    client: async () => ({ ca: meshCa.certPem }),
    reason: /peer did not return a certificate/,
    counter: 'tls_handshake_failed',
    tls: 'no_peer_certificate',
  },
  {
    name: 'a certificate from another CA',
    client: async () => {
      const c = await issue(otherCa, { uris: [spiffe('app', 'client')] });
      return { cert: c.certPem, key: c.keyPem, ca: meshCa.certPem };
    },
    reason: /certificate verify failed: unable to get local issuer certificate/,
    counter: 'tls_handshake_failed',
    tls: 'certificate_verify_failed',
  },
  {
    name: 'an expired certificate',
    client: async () => {
      const c = await issue(meshCa, { uris: [spiffe('app', 'client')], now: new Date(Date.now() - 7200_000), ttlSeconds: 3600 });
      return { cert: c.certPem, key: c.keyPem, ca: meshCa.certPem };
    },
    reason: /certificate verify failed: certificate has expired/,
    counter: 'tls_handshake_failed',
    tls: 'certificate_verify_failed',
  },
  {
    name: 'a certificate with the wrong SAN',
    client: async () => {
      const c = await issue(meshCa, { uris: [spiffe('app', 'intruder')] });
      return { cert: c.certPem, key: c.keyPem, ca: meshCa.certPem };
    },
    reason: /SAN mismatch: got spiffe:\/\/cluster.local\/ns\/app\/sa\/intruder, want URI:spiffe:\/\/cluster.local\/ns\/app\/sa\/client/,
    counter: 'tls_handshake_failed',
    tls: 'san_mismatch',
  },
  {
    name: 'a client certificate without the clientAuth usage',
    client: async () => {
      const c = await issue(meshCa, { uris: [spiffe('app', 'client')], usage: 'server' });
      return { cert: c.certPem, key: c.keyPem, ca: meshCa.certPem };
    },
    reason: /unsupported certificate purpose/,
    counter: 'tls_handshake_failed',
    tls: 'certificate_verify_failed',
  },
  {
    name: 'a TLS 1.0/1.1 client',
    client: async () => 'tls1.0',
    reason: /unsupported protocol|version/,
    counter: 'tls_handshake_failed',
    tls: 'unsupported_protocol',
  },
  {
    name: 'plain bytes to a TLS port',
    client: async () => 'plain',
    reason: /no filter chain matches plaintext/,
    counter: 'no_matching_filter_chain',
  },
  {
    name: 'random garbage to a TLS port',
    client: async () => 'garbage',
    reason: /no filter chain matches/,
    counter: 'no_matching_filter_chain',
  },
  {
    name: 'a client that connects and sends nothing',
    client: async () => 'silent',
    reason: /no data within the listener filter timeout/,
    counter: 'listener_filters_timeout',
  },
];

for (const c of cases) {
  test(`refuses ${c.name} with a reason and a counter, opens no upstream, keeps serving`, async (t) => {
    // A short listener-filter timeout only where the timeout is what is tested (the machine may be slow).
    const { echo, proxy, logs, warnings, p } = await mtlsProxy(t, c.counter === 'listener_filters_timeout' ? '0.4s' : '10s');
    const how = await c.client();
    if (how === 'plain' || how === 'garbage' || how === 'silent') {
      const s = net.connect({ host: '127.0.0.1', port: p });
      t.after(() => s.destroy());
      s.on('error', () => {
        /* the proxy closes it */
      });
      await new Promise((r) => s.once('connect', r));
      if (how === 'plain') s.write('SELECT 1;\n');
      if (how === 'garbage') s.write(randomBytes(64));
      await new Promise((r) => s.once('close', r));
    } else if (how === 'tls1.0') {
      const out = await tls10Client(t, p, 'secret query');
      assert.doesNotMatch(out, /secret query/, `the refused client must get nothing back, got ${JSON.stringify(out)}`);
    } else {
      const r = await roundTrip(p, 'secret query', how);
      assert.equal(r.echoed, '', `the refused client must get nothing back, got ${JSON.stringify(r.echoed)}`);
    }
    await waitFor(() => logs.length === 1, 3000, 'access log line for the refusal');
    const si = logs[0]!;
    const text = `${si.connectionTerminationDetails} ${si.downstreamTransportFailureReason}`;
    assert.match(text, c.reason, `access log reason: ${text}`);
    assert.ok(
      warnings.some((w) => c.reason.test(w)),
      `a log line names the reason; got ${warnings.join(' | ')}`,
    );
    assert.equal(await metric(proxy, 'meshgate_proxy_downstream_refused_total', { listener: 'inbound', reason: c.counter }), 1);
    if (c.counter === 'tls_handshake_failed')
      assert.equal(await metric(proxy, 'meshgate_proxy_tls_handshake_failures_total', { side: 'downstream' }), 1);
    // The label is the failure's code, never its message text (which names certificates and principals).
    if (c.tls)
      assert.equal(
        await metric(proxy, 'meshgate_proxy_tls_handshake_failures_total', { side: 'downstream', reason: c.tls }),
        1,
        `reason label ${c.tls}`,
      );
    if (c.counter === 'no_matching_filter_chain') assert.equal(si.responseFlags, 'NR');
    assert.equal(echo.accepted(), 0, 'no upstream connection was opened');
    const ok = await roundTrip(p, 'next', goodClient());
    assert.equal(ok.echoed, 'next', 'the proxy keeps serving good clients');
  });
}

test('SNI routing: several chains on one port, exact and wildcard names; a wrong or missing SNI is refused', async (t) => {
  const a = await echoServer(t);
  const b = await echoServer(t);
  const { proxy, logs } = newProxy(t);
  const gw = await issue(meshCa, { dns: ['a.example.com', '*.b.example.com'] });
  proxy.applySecrets([certSecret('kubernetes://gw', gw), caSecret('kubernetes://gw-cacert', meshCa)]);
  proxy.applyClusters([staticCluster('a', [{ port: a.port }]), staticCluster('b', [{ port: b.port }])]);
  await proxy.applyListeners([
    listener(
      'gw',
      0,
      [
        {
          name: 'a',
          filterChainMatch: { serverNames: ['a.example.com'] },
          transportSocket: downstreamTls({ cert: 'kubernetes://gw', ca: 'kubernetes://gw-cacert' }),
          filters: [tcpProxyFilter('a')],
        },
        {
          name: 'b',
          filterChainMatch: { serverNames: ['*.b.example.com'] },
          transportSocket: downstreamTls({ cert: 'kubernetes://gw', ca: 'kubernetes://gw-cacert' }),
          filters: [tcpProxyFilter('b')],
        },
      ],
      { listenerFilters: [TLS_INSPECTOR] },
    ),
  ]);
  const p = port(proxy, 'gw');
  const base = { cert: clientCert.certPem, key: clientCert.keyPem, ca: meshCa.certPem };
  assert.equal((await roundTrip(p, 'to-a', { ...base, servername: 'a.example.com' })).echoed, 'to-a');
  assert.equal((await roundTrip(p, 'to-b', { ...base, servername: 'x.b.example.com' })).echoed, 'to-b');
  assert.equal(a.accepted(), 1);
  assert.equal(b.accepted(), 1);
  assert.equal((await roundTrip(p, 'wrong', { ...base, servername: 'c.example.com' })).echoed, '');
  assert.equal((await roundTrip(p, 'none', { ...base, servername: '' })).echoed, '');
  await waitFor(() => logs.length === 4, 3000, 'four access log lines');
  const refused = logs.filter((l) => l.responseFlags === 'NR');
  assert.equal(refused.length, 2);
  assert.ok(refused.some((l) => /SNI "c.example.com"/.test(l.connectionTerminationDetails)));
  assert.ok(refused.some((l) => /SNI "\(none\)"/.test(l.connectionTerminationDetails)));
  assert.equal(a.accepted() + b.accepted(), 2, 'no upstream for the refused ones');
});

test('PERMISSIVE: plaintext and mutual TLS chains side by side on one port', async (t) => {
  const echo = await echoServer(t);
  const { proxy, logs } = newProxy(t);
  proxy.setLocalSecret('default', certSecret('default', serverCert));
  proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', meshCa));
  proxy.applyClusters([staticCluster('backend', [{ port: echo.port }])]);
  await proxy.applyListeners([
    listener(
      'inbound',
      0,
      [
        {
          name: 'tls',
          filterChainMatch: { transportProtocol: 'tls' },
          transportSocket: downstreamTls(),
          filters: [tcpProxyFilter('backend')],
        },
        { name: 'plain', filterChainMatch: { transportProtocol: 'raw_buffer' }, filters: [tcpProxyFilter('backend')] },
      ],
      { listenerFilters: [TLS_INSPECTOR], trafficDirection: 'INBOUND' },
    ),
  ]);
  const p = port(proxy, 'inbound');
  assert.equal((await roundTrip(p, 'over tls', goodClient())).echoed, 'over tls');
  assert.equal((await roundTrip(p, 'in the clear')).echoed, 'in the clear');
  await waitFor(() => logs.length === 2, 3000, 'two access log lines');
  assert.deepEqual(logs.map((l) => l.filterChain).sort(), ['plain', 'tls']);
  assert.equal(await metric(proxy, 'istio_tcp_connections_opened_total', { connection_security_policy: 'none' }), 1);
  assert.equal(await metric(proxy, 'istio_tcp_connections_opened_total', { connection_security_policy: 'mutual_tls' }), 1);
});

test('a missing secret makes the chain refuse connections instead of serving without TLS', async (t) => {
  const echo = await echoServer(t);
  const { proxy, logs, warnings } = newProxy(t);
  proxy.applyClusters([staticCluster('backend', [{ port: echo.port }])]);
  await proxy.applyListeners([
    listener(
      'gw',
      0,
      [{ name: 'tls', transportSocket: downstreamTls({ cert: 'kubernetes://not-yet' }), filters: [tcpProxyFilter('backend')] }],
      { listenerFilters: [TLS_INSPECTOR] },
    ),
  ]);
  const r = await roundTrip(port(proxy, 'gw'), 'x', goodClient());
  assert.equal(r.echoed, '');
  await waitFor(() => logs.length === 1, 3000, 'access log');
  assert.match(
    logs[0]!.connectionTerminationDetails,
    /filter chain "tls": secret "kubernetes:\/\/not-yet" has not been received; refusing instead of serving without TLS/,
  );
  assert.ok(warnings.some((w) => w.includes('kubernetes://not-yet')));
  assert.equal(echo.accepted(), 0);
  assert.equal(await metric(proxy, 'meshgate_proxy_downstream_refused_total', { reason: 'secret_not_ready' }), 1);
});

test('a CRL in the validation context refuses a revoked client certificate', async (t) => {
  const { createCrl } = await import('../../src/pki/crl.js');
  const echo = await echoServer(t);
  const revoked = await issue(meshCa, { uris: [spiffe('app', 'client')] });
  const crl = await createCrl({ caCertPem: meshCa.certPem, caKeyPem: meshCa.keyPem, revokedSerials: [revoked.serial], ttlSeconds: 3600 });
  const { proxy, logs } = newProxy(t);
  proxy.setLocalSecret('default', certSecret('default', serverCert));
  proxy.applySecrets([
    { name: 'ca-with-crl', validationContext: { trustedCa: { inlineString: meshCa.certPem }, crl: { inlineString: crl } } },
  ]);
  proxy.applyClusters([staticCluster('backend', [{ port: echo.port }])]);
  await proxy.applyListeners([
    listener('inbound', 0, [{ transportSocket: downstreamTls({ ca: 'ca-with-crl' }), filters: [tcpProxyFilter('backend')] }]),
  ]);
  const p = port(proxy, 'inbound');
  assert.equal((await roundTrip(p, 'revoked', { cert: revoked.certPem, key: revoked.keyPem, ca: meshCa.certPem })).echoed, '');
  assert.equal((await roundTrip(p, 'fine', goodClient())).echoed, 'fine');
  await waitFor(() => logs.length === 2, 3000, 'two access log lines');
  assert.match(logs[0]!.downstreamTransportFailureReason, /certificate verify failed: certificate revoked/);
  assert.equal(echo.accepted(), 1);
});

test('TLS parameters: a TLS 1.3-only chain refuses a TLS 1.2 client; cipher suites apply to TLS 1.2', async (t) => {
  const echo = await echoServer(t);
  const { proxy, logs } = newProxy(t);
  proxy.setLocalSecret('default', certSecret('default', serverCert));
  proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', meshCa));
  proxy.applyClusters([staticCluster('backend', [{ port: echo.port }])]);
  await proxy.applyListeners([
    listener('v13', 0, [{ transportSocket: downstreamTls({ min: 'TLSv1_3' }), filters: [tcpProxyFilter('backend')] }]),
    listener('v12', 0, [
      {
        transportSocket: downstreamTls({ max: 'TLSv1_2', ciphers: ['ECDHE-ECDSA-AES128-GCM-SHA256'] }),
        filters: [tcpProxyFilter('backend')],
      },
    ]),
  ]);
  const r13 = await roundTrip(port(proxy, 'v13'), 'x', { ...goodClient(), maxVersion: 'TLSv1.2' });
  assert.equal(r13.echoed, '');
  const r12 = await roundTrip(port(proxy, 'v12'), 'y', goodClient());
  assert.equal(r12.echoed, 'y');
  assert.equal(r12.tlsVersion, 'TLSv1.2');
  const wrongCipher = await roundTrip(port(proxy, 'v12'), 'z', {
    ...goodClient(),
    ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384',
    maxVersion: 'TLSv1.2',
  });
  assert.equal(wrongCipher.echoed, '');
  await waitFor(() => logs.length === 3, 3000, 'three access log lines');
  const reasons = logs.map((l) => l.downstreamTransportFailureReason).filter(Boolean);
  assert.equal(reasons.length, 2);
  assert.ok(
    reasons.some((r) => /unsupported protocol/.test(r)),
    reasons.join(' | '),
  );
  assert.ok(
    reasons.some((r) => /no shared cipher/.test(r)),
    reasons.join(' | '),
  );
  // Classified by Node's TLS error code (ERR_SSL_*), not by matching the text.
  assert.equal(
    await metric(proxy, 'meshgate_proxy_tls_handshake_failures_total', { side: 'downstream', name: 'v13', reason: 'unsupported_protocol' }),
    1,
  );
  assert.equal(
    await metric(proxy, 'meshgate_proxy_tls_handshake_failures_total', { side: 'downstream', name: 'v12', reason: 'no_shared_cipher' }),
    1,
  );
  assert.equal(
    logs.find((l) => l.listener === 'v12' && !l.downstreamTransportFailureReason)!.downstreamTlsCipher,
    'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  );
});

/** One TLS client offering `alpn`: what the server selected, or the error. */
function alpnClient(p: number, alpn: string[] | undefined): Promise<{ ok: boolean; alpn: string | false; echoed: string; error?: string }> {
  return new Promise((resolve) => {
    const s = tls.connect(
      {
        host: '127.0.0.1',
        port: p,
        ca: meshCa.certPem,
        servername: 'mysql.db.svc.cluster.local',
        ...(alpn ? { ALPNProtocols: alpn } : {}),
      },
      () => s.end('x'),
    );
    let echoed = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (echoed += d));
    s.on('end', () => resolve({ ok: true, alpn: s.alpnProtocol ?? false, echoed }));
    s.on('error', (e) => resolve({ ok: false, alpn: false, echoed, error: e.message }));
  });
}

test('alpnProtocols: an overlapping client ALPN is negotiated; one sharing nothing, or none, completes the handshake without ALPN as Envoy does', async (t) => {
  const echo = await echoServer(t);
  const { proxy } = newProxy(t);
  proxy.setLocalSecret('default', certSecret('default', serverCert));
  proxy.applyClusters([staticCluster('backend', [{ port: echo.port }])]);
  const ts = downstreamTls({ requireClientCert: false, ca: '' });
  (ts.typedConfig as { commonTlsContext: { alpnProtocols?: string[] } }).commonTlsContext.alpnProtocols = ['h2', 'http/1.1'];
  // No tls_inspector and no TLS match: the ALPN list alone makes the listener read the ClientHello first.
  await proxy.applyListeners([listener('gw', 0, [{ name: 'simple', transportSocket: ts, filters: [tcpProxyFilter('backend')] }])]);
  const p = port(proxy, 'gw');
  assert.deepEqual(await alpnClient(p, ['http/1.1', 'other']), { ok: true, alpn: 'http/1.1', echoed: 'x' });
  // Node's own server would answer this with a no_application_protocol alert; Envoy's (BoringSSL) goes on without ALPN.
  assert.deepEqual(await alpnClient(p, ['mysql']), { ok: true, alpn: false, echoed: 'x' });
  assert.deepEqual(await alpnClient(p, undefined), { ok: true, alpn: false, echoed: 'x' });
});
