// The target of the TLS attacks: a real meshgate Proxy (src/proxy) in a process of its own, so that a
// crash, a leak or a hang shows as a dead process, a growing RSS or sessions that never close. Its
// listener is shaped as the model shapes the ingress gateway's MUTUAL server (tls_inspector, an SNI
// chain, the credential and its CA from SDS, a SAN allow-list, TLS 1.2 minimum) and proxies to an echo
// server in the same process. Usage: node tls-target.js CONFIG.json; prints one JSON line when ready.
// A tiny HTTP server on 127.0.0.1 reports the process's state (`GET /state`) and metrics (`GET /metrics`).
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { Proxy } from '../../src/proxy/proxy.js';
import { TypeUrl, type Listener, type Secret } from '../../src/envoy/envoy-types.js';
import { TARGET_CREDENTIAL, TARGET_LISTENER, type TlsTargetConfig } from './tls-target-config.js';
import { startEchoBackend } from './echo-backend.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: tls-target CONFIG.json\n');
  process.exit(2);
}
const cfg = JSON.parse(readFileSync(file, 'utf8')) as TlsTargetConfig;

const echo = await startEchoBackend();
const echoPort = echo.port;

const warnings: string[] = [];
const proxy = new Proxy({
  drainTimeoutMs: 1000,
  log: (level, msg) => {
    if (level === 'debug') return;
    warnings.push(msg);
    if (warnings.length > 200) warnings.splice(0, warnings.length - 200);
  },
});

const secrets: Secret[] = [
  {
    name: TARGET_CREDENTIAL,
    tlsCertificate: { certificateChain: { inlineString: cfg.certPem }, privateKey: { inlineString: cfg.keyPem } },
  },
  { name: `${TARGET_CREDENTIAL}-cacert`, validationContext: { trustedCa: { inlineString: cfg.caPem } } },
];
proxy.applySecrets(secrets, 'soak');
proxy.applyClusters(
  [
    {
      name: 'echo',
      type: 'STATIC',
      connectTimeout: '2s',
      loadAssignment: {
        clusterName: 'echo',
        endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: echoPort } } } }] }],
      },
    },
  ],
  'soak',
);
const listener: Listener = {
  name: TARGET_LISTENER,
  address: { socketAddress: { address: '127.0.0.1', portValue: 0 } },
  listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': TypeUrl.TlsInspector } }],
  listenerFiltersTimeout: cfg.timeout,
  filterChains: [
    {
      name: 'mysql',
      filterChainMatch: { serverNames: [cfg.serverName] },
      transportSocketConnectTimeout: cfg.timeout,
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: {
          '@type': TypeUrl.DownstreamTlsContext,
          requireClientCertificate: true,
          commonTlsContext: {
            tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2' },
            tlsCertificateSdsSecretConfigs: [{ name: TARGET_CREDENTIAL, sdsConfig: { ads: {}, resourceApiVersion: 'V3' } }],
            combinedValidationContext: {
              defaultValidationContext: {
                matchTypedSubjectAltNames: cfg.allowedSans.map((s) => ({ sanType: 'DNS' as const, matcher: { exact: s } })),
              },
              validationContextSdsSecretConfig: { name: `${TARGET_CREDENTIAL}-cacert`, sdsConfig: { ads: {}, resourceApiVersion: 'V3' } },
            },
          },
        },
      },
      filters: [
        { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: 'echo', cluster: 'echo' } },
      ],
    },
  ],
};
await proxy.applyListeners([listener], 'soak');
const bound = proxy.listenerAddress(TARGET_LISTENER);
if (!bound) throw new Error(`listener ${TARGET_LISTENER} did not bind`);

const status = http.createServer((req, res) => {
  if (req.url === '/metrics') {
    proxy.stats.registry.metrics().then(
      (text) => res.end(text),
      (err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      },
    );
    return;
  }
  if (req.url === '/state') {
    const mem = process.memoryUsage();
    const s = proxy.sessionStats();
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        sessions: s.sessions,
        bufferedBytes: s.bufferedBytes,
        echoSockets: echo.sockets.size,
        warnings: warnings.slice(-50),
      }),
    );
    return;
  }
  res.statusCode = 404;
  res.end('not found\n');
});
await new Promise<void>((r) => status.listen(0, '127.0.0.1', r));
process.stdout.write(
  `${JSON.stringify({ ready: true, host: bound.address, port: bound.port, statusPort: (status.address() as net.AddressInfo).port, pid: process.pid })}\n`,
);

process.on('SIGTERM', () => {
  status.close();
  echo.close();
  proxy.close(0).then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
