// Admin endpoints and `meshgate proxy-config` read from a live proxy; graceful drain lets an open
// connection finish while new ones are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { TypeUrl, type TransportSocket } from '../../src/envoy/envoy-types.js';
import { startAdmin } from '../../src/proxy/admin.js';
import { runProxyConfig } from '../../src/cli/proxy-config.js';
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
  TLS_INSPECTOR,
  upstreamTls,
} from './helpers.js';

test('proxy-config prints listeners, clusters, endpoints and secrets as tables and JSON', async (t) => {
  const echo = await echoServer(t);
  const ca = await makeCa('mesh');
  const id = await issue(ca, { uris: [spiffe('istio-system', 'ingressgateway')] });
  const { proxy } = newProxy(t);
  proxy.setLocalSecret('default', certSecret('default', id));
  proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  proxy.applyClusters([staticCluster('outbound|3306||mysql.db.svc.cluster.local', [{ port: echo.port }])]);
  await proxy.applyListeners([
    listener(
      '0.0.0.0_13306',
      0,
      [
        {
          name: 'sni',
          filterChainMatch: { serverNames: ['mysql.fqdn.example'] },
          transportSocket: downstreamTls(),
          filters: [tcpProxyFilter('outbound|3306||mysql.db.svc.cluster.local')],
        },
      ],
      { listenerFilters: [TLS_INSPECTOR] },
    ),
  ]);
  const admin = await startAdmin(proxy, { port: 0, statsPort: 0, readinessPort: 0 });
  t.after(() => admin.close());
  assert.equal(admin.address, '127.0.0.1', 'loopback by default');
  const run = async (kind: string, o = 'short'): Promise<string> => {
    let s = '';
    assert.equal(
      await runProxyConfig(kind, `127.0.0.1:${admin.port}`, o, (x) => {
        s += x;
      }),
      0,
    );
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
  await assert.rejects(
    runProxyConfig('routes', `127.0.0.1:${admin.port}`, 'short', () => undefined),
    /config type "routes" is not served by meshgate: its data plane is L4/,
  );
  await assert.rejects(
    runProxyConfig('nonsense', `127.0.0.1:${admin.port}`, 'short', () => undefined),
    /unknown config type "nonsense"/,
  );
  await assert.rejects(
    runProxyConfig('all', '127.0.0.1:1', 'short', () => undefined),
    /cannot reach the proxy admin/,
  );
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
  proxy.applyClusters([
    staticCluster('c', [{ port: 1 }], { transportSocket: upstreamTls({ cert: 'kubernetes://cred', ca: 'kubernetes://cred-cacert' }) }),
  ]);
  await proxy.applyListeners([listener('l', 0, [{ filters: [tcpProxyFilter('c')] }])]);
  assert.equal(proxy.isReady(), false, "the cluster's credential has not arrived");
  proxy.applySecrets([certSecret('kubernetes://cred', leaf)]);
  assert.equal(proxy.isReady(), false, 'its CA has not arrived');
  proxy.applySecrets([certSecret('kubernetes://cred', leaf), caSecret('kubernetes://cred-cacert', ca)]);
  assert.equal(proxy.isReady(), true);
  proxy.applySecrets([]);
  assert.equal(proxy.isReady(), true, 'a secret withdrawn after start does not make the proxy unready');
});

/** An HTTP request with the headers a browser would send (fetch does not let a caller set Host). */
function request(
  portNo: number,
  method: string,
  p: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: portNo, method, path: p, headers }, (res) => {
      let text = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => (text += d))
        .on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('admin refuses to listen on a non-loopback address, naming the reason', async (t) => {
  const { proxy } = newProxy(t);
  for (const address of ['0.0.0.0', '198.18.1.2', '::']) {
    // A server that does start is closed again, so a failure here cannot leave the test process hanging.
    await assert.rejects(
      startAdmin(proxy, { address, port: 0 }).then(async (a) => {
        await a.close();
        return a;
      }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'E_ADMIN');
        assert.match(err.message, new RegExp(`refusing to listen on ${address.replace(/\./g, '\\.')}: .*loopback address only`));
        return true;
      },
    );
  }
  const admin = await startAdmin(proxy, { address: '127.0.0.1', port: 0, probeAddress: '127.0.0.2', statsPort: 0, readinessPort: 0 });
  t.after(() => admin.close());
  assert.equal(admin.probeAddress, '127.0.0.2');
  assert.equal((await fetch(`http://127.0.0.2:${admin.statsPort}/stats/prometheus`)).status, 200, 'Prometheus listens on probeAddress');
  await assert.rejects(fetch(`http://127.0.0.2:${admin.port}/ready`), 'admin does not listen on probeAddress');
});

test('POST /drain_listeners from another origin or addressed to a name is refused and the listeners keep serving', async (t) => {
  const echo = await echoServer(t);
  const { proxy, warnings } = newProxy(t);
  proxy.applyClusters([staticCluster('c', [{ port: echo.port }])]);
  await proxy.applyListeners([listener('l', 0, [{ filters: [tcpProxyFilter('c')] }])]);
  const admin = await startAdmin(proxy, { port: 0 });
  t.after(() => admin.close());
  const host = `127.0.0.1:${admin.port}`;
  const csrf = await request(admin.port, 'POST', '/drain_listeners', { host, origin: 'https://evil.example' });
  assert.equal(csrf.status, 403);
  assert.match(csrf.text, /Origin "https:\/\/evil\.example" refused/);
  const rebound = await request(admin.port, 'POST', '/drain_listeners', { host: `evil.example:${admin.port}` });
  assert.equal(rebound.status, 403);
  assert.match(rebound.text, /Host "evil\.example:\d+" refused/);
  assert.equal(
    (await request(admin.port, 'GET', '/config_dump', { host: `evil.example:${admin.port}` })).status,
    403,
    'reads are refused to a rebinding page too',
  );
  assert.equal(proxy.isReady(), true, 'not draining');
  assert.equal((await roundTrip(port(proxy, 'l'), 'still here')).echoed, 'still here', 'the listener keeps serving');
  assert.ok(
    warnings.some((w) => /admin POST \/drain_listeners refused/.test(w)),
    'the refusal is logged',
  );
  // The admin's own origin and clients that send none (curl, meshgate) may drain.
  assert.equal((await request(admin.port, 'POST', '/drain_listeners', { host, origin: `http://${host}` })).status, 200);
  await until(() => !proxy.isReady());
});

test('config_dump redacts a private key held inline in a listener, and the proxy keeps serving TLS with it', async (t) => {
  const echo = await echoServer(t);
  const ca = await makeCa('inline-ca');
  const server = await issue(ca, { dns: ['inline.example'] });
  const { proxy } = newProxy(t);
  proxy.applyClusters([staticCluster('c', [{ port: echo.port }])]);
  const inline: TransportSocket = {
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': TypeUrl.DownstreamTlsContext,
      commonTlsContext: {
        tlsCertificates: [
          {
            certificateChain: { inlineString: server.certPem },
            privateKey: { inlineBytes: Buffer.from(server.keyPem).toString('base64') },
          },
        ],
      },
    },
  };
  await proxy.applyListeners([listener('tls', 0, [{ transportSocket: inline, filters: [tcpProxyFilter('c')] }])]);
  const admin = await startAdmin(proxy, { port: 0 });
  t.after(() => admin.close());
  const text = await (await fetch(`http://127.0.0.1:${admin.port}/config_dump`)).text();
  assert.doesNotMatch(text, /PRIVATE KEY/);
  assert.equal(text.includes(Buffer.from(server.keyPem).toString('base64')), false, 'the key as inlineBytes');
  assert.ok(text.includes(JSON.stringify(server.certPem)), 'the certificate is shown');
  assert.match(text, /"privateKey": \{\s*"inlineString": "\[redacted\]"\s*\}/);
  const r = await roundTrip(port(proxy, 'tls'), 'over tls', { ca: ca.certPem, servername: 'inline.example' });
  assert.equal(r.echoed, 'over tls', 'redaction changed only what was printed');
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('proxy-config redacts keys itself when an admin (another build) serves them in its config_dump', async (t) => {
  const ca = await makeCa('foreign-admin');
  const keyB64 = Buffer.from(ca.keyPem).toString('base64');
  const dump = {
    configs: [
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
        dynamicActiveSecrets: [
          {
            name: 'kubernetes://cred',
            secret: {
              '@type': TypeUrl.Secret,
              name: 'kubernetes://cred',
              tlsCertificate: { certificateChain: { inlineString: ca.certPem }, privateKey: { inlineBytes: keyB64 } },
            },
          },
        ],
      },
    ],
  };
  const server = http.createServer((req, res) => {
    const body = req.url?.startsWith('/config_dump') ? dump : req.url === '/clusters' ? { cluster_statuses: [] } : { certificates: [] };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  let out = '';
  assert.equal(
    await runProxyConfig('all', `127.0.0.1:${(server.address() as net.AddressInfo).port}`, 'json', (s) => {
      out += s;
    }),
    0,
  );
  assert.equal(out.includes(keyB64), false, 'the key is not printed');
  assert.ok(out.includes(JSON.stringify(ca.certPem)), 'the certificate is');
  assert.match(out, /"inlineString": "\[redacted\]"/);
});
