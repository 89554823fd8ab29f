// The target of the proxy attacks: a real meshgate Proxy (src/proxy) with its admin (startAdmin, on
// 127.0.0.1) in a process of its own. Two plain TCP listeners proxy to an echo server in the same
// process: one with a listener connection cap, one without, both under a small global cap; a third
// listener and a cluster carry a credential inline (key included), which admin's /config_dump must
// redact. Usage: node proxy-target.js CONFIG.json; prints one JSON line (ProxyTargetReady) when ready.
import { readFileSync } from 'node:fs';
import { Proxy } from '../../src/proxy/proxy.js';
import { startAdmin } from '../../src/proxy/admin.js';
import { TypeUrl, type Listener } from '../../src/envoy/envoy-types.js';
import {
  CAPPED_LISTENER,
  INLINE_TLS_CLUSTER,
  INLINE_TLS_LISTENER,
  OPEN_LISTENER,
  type ProxyTargetConfig,
  type ProxyTargetReady,
} from './proxy-target-config.js';
import { startEchoBackend } from './echo-backend.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: proxy-target CONFIG.json\n');
  process.exit(2);
}
const cfg = JSON.parse(readFileSync(file, 'utf8')) as ProxyTargetConfig;

const echo = await startEchoBackend();
const echoPort = echo.port;

const proxy = new Proxy({
  drainTimeoutMs: 1000,
  connectionLimits: { globalDownstreamMaxConnections: cfg.globalCap, listeners: { [CAPPED_LISTENER]: cfg.listenerCap } },
  log: (level, msg) => {
    if (level !== 'debug') process.stderr.write(`${level} ${msg}\n`);
  },
});
const inlineCommon = {
  tlsCertificates: [{ certificateChain: { inlineString: cfg.certPem }, privateKey: { inlineString: cfg.keyPem } }],
  validationContext: { trustedCa: { inlineString: cfg.caPem } },
};
const echoEndpoint = {
  endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: echoPort } } } }] }],
};
proxy.applyClusters(
  [
    { name: 'echo', type: 'STATIC', connectTimeout: '2s', loadAssignment: { clusterName: 'echo', ...echoEndpoint } },
    {
      name: INLINE_TLS_CLUSTER,
      type: 'STATIC',
      connectTimeout: '2s',
      loadAssignment: { clusterName: INLINE_TLS_CLUSTER, ...echoEndpoint },
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: { '@type': TypeUrl.UpstreamTlsContext, sni: 'soak.example', commonTlsContext: inlineCommon },
      },
    },
  ],
  'soak',
);
const tcpProxy = (name: string): Listener => ({
  name,
  address: { socketAddress: { address: '127.0.0.1', portValue: 0 } },
  filterChains: [
    {
      filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: name, cluster: 'echo' } }],
    },
  ],
});
const inlineTls: Listener = {
  ...tcpProxy(INLINE_TLS_LISTENER),
  filterChains: [
    {
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: { '@type': TypeUrl.DownstreamTlsContext, commonTlsContext: inlineCommon },
      },
      filters: [
        { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: 'inline', cluster: 'echo' } },
      ],
    },
  ],
};
await proxy.applyListeners([tcpProxy(CAPPED_LISTENER), tcpProxy(OPEN_LISTENER), inlineTls], 'soak');
const admin = await startAdmin(proxy, { address: '127.0.0.1', port: 0 });
const port = (name: string): number => {
  const a = proxy.listenerAddress(name);
  if (!a) throw new Error(`listener ${name} did not bind`);
  return a.port;
};
const ready: ProxyTargetReady = {
  cappedPort: port(CAPPED_LISTENER),
  openPort: port(OPEN_LISTENER),
  adminAddress: `${admin.address}:${admin.port}`,
  pid: process.pid,
};
process.stdout.write(`${JSON.stringify(ready)}\n`);

process.on('SIGTERM', () => {
  echo.close();
  void admin.close();
  proxy.close(0).then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
