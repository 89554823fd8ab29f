// Shared by the proxy tests: certificates made with src/pki, Envoy resources built the way the control
// plane builds them, real echo/sink servers on 127.0.0.1, and clients that report what happened.
import net from 'node:net';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import { generateKeyPair } from '../../src/pki/keys.js';
import { issueCertificate, type CertificateUsage } from '../../src/pki/certificate.js';
import type { Cluster, FilterChain, Listener, Secret, SubjectAltNameMatcher, TransportSocket } from '../../src/envoy/envoy-types.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { Proxy, type ProxyOptions } from '../../src/proxy/proxy.js';
import type { StreamInfo } from '../../src/proxy/access-log.js';

type After = { after(fn: () => void | Promise<void>): void };

export interface Pair {
  certPem: string;
  keyPem: string;
  serial: string;
}

export async function makeCa(cn: string): Promise<Pair> {
  const k = await generateKeyPair();
  const certPem = await issueCertificate({
    subject: `CN=${cn}`,
    publicKeyPem: k.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: k.privateKeyPem,
    isCa: true,
    ttlSeconds: 86400,
  });
  return { certPem, keyPem: k.privateKeyPem, serial: new (await import('node:crypto')).X509Certificate(certPem).serialNumber };
}

export async function issue(
  ca: Pair,
  o: { cn?: string; uris?: string[]; dns?: string[]; usage?: CertificateUsage; now?: Date; ttlSeconds?: number } = {},
): Promise<Pair> {
  const k = await generateKeyPair();
  const certPem = await issueCertificate({
    subject: `CN=${o.cn ?? 'workload'}`,
    publicKeyPem: k.publicKeyPem,
    issuer: { certPem: ca.certPem, privateKeyPem: ca.keyPem },
    uris: o.uris,
    dns: o.dns,
    usage: o.usage ?? 'both',
    now: o.now,
    ttlSeconds: o.ttlSeconds ?? 3600,
  });
  return { certPem, keyPem: k.privateKeyPem, serial: new (await import('node:crypto')).X509Certificate(certPem).serialNumber };
}

export function certSecret(name: string, p: Pair): Secret {
  return { name, tlsCertificate: { certificateChain: { inlineString: p.certPem }, privateKey: { inlineString: p.keyPem } } };
}

export function caSecret(name: string, ca: Pair | string): Secret {
  return { name, validationContext: { trustedCa: { inlineString: typeof ca === 'string' ? ca : ca.certPem } } };
}

export const spiffe = (ns: string, sa: string): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;

export function uriSan(exact: string): SubjectAltNameMatcher {
  return { sanType: 'URI', matcher: { exact } };
}

export function downstreamTls(
  o: {
    cert?: string;
    ca?: string;
    requireClientCert?: boolean;
    sans?: SubjectAltNameMatcher[];
    min?: 'TLSv1_2' | 'TLSv1_3';
    max?: 'TLSv1_2' | 'TLSv1_3';
    ciphers?: string[];
  } = {},
): TransportSocket {
  return {
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': TypeUrl.DownstreamTlsContext,
      requireClientCertificate: o.requireClientCert ?? true,
      commonTlsContext: {
        tlsCertificateSdsSecretConfigs: [{ name: o.cert ?? 'default', sdsConfig: { ads: {}, resourceApiVersion: 'V3' } }],
        ...(o.ca === ''
          ? {}
          : {
              combinedValidationContext: {
                defaultValidationContext: { matchTypedSubjectAltNames: o.sans },
                validationContextSdsSecretConfig: { name: o.ca ?? 'ROOTCA' },
              },
            }),
        ...(o.min || o.max || o.ciphers
          ? { tlsParams: { tlsMinimumProtocolVersion: o.min, tlsMaximumProtocolVersion: o.max, cipherSuites: o.ciphers } }
          : {}),
      },
    },
  };
}

export function upstreamTls(o: { cert?: string; ca?: string; sni?: string; sans?: SubjectAltNameMatcher[] } = {}): TransportSocket {
  return {
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': TypeUrl.UpstreamTlsContext,
      sni: o.sni,
      commonTlsContext: {
        ...(o.cert === '' ? {} : { tlsCertificateSdsSecretConfigs: [{ name: o.cert ?? 'default' }] }),
        combinedValidationContext: {
          defaultValidationContext: { matchTypedSubjectAltNames: o.sans },
          validationContextSdsSecretConfig: { name: o.ca ?? 'ROOTCA' },
        },
      },
    },
  };
}

export function tcpProxyFilter(cluster: string, extra: Record<string, unknown> = {}): FilterChain['filters'][number] {
  return { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TypeUrl.TcpProxy, statPrefix: cluster, cluster, ...extra } };
}

export function listener(name: string, port: number, chains: FilterChain[], extra: Partial<Listener> = {}): Listener {
  return { name, address: { socketAddress: { address: '127.0.0.1', portValue: port } }, filterChains: chains, ...extra };
}

export function staticCluster(name: string, hosts: { address?: string; port: number }[], extra: Partial<Cluster> = {}): Cluster {
  return {
    name,
    type: 'STATIC',
    connectTimeout: '2s',
    loadAssignment: {
      clusterName: name,
      endpoints: [
        {
          lbEndpoints: hosts.map((h) => ({
            endpoint: { address: { socketAddress: { address: h.address ?? '127.0.0.1', portValue: h.port } } },
          })),
        },
      ],
    },
    ...extra,
  };
}

export const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': TypeUrl.TlsInspector } };

/** A proxy closed after the test; access log lines are collected in `logs`. */
export function newProxy(t: After, o: ProxyOptions = {}): { proxy: Proxy; logs: StreamInfo[]; warnings: string[] } {
  const logs: StreamInfo[] = [];
  const warnings: string[] = [];
  const proxy = new Proxy({
    drainTimeoutMs: 2000,
    log: (level, msg) => {
      if (level !== 'debug') warnings.push(msg);
    },
    accessLog: { sink: (_l, si) => logs.push({ ...si }) },
    ...o,
  });
  t.after(() => proxy.close(0));
  return { proxy, logs, warnings };
}

export function port(proxy: Proxy, name: string): number {
  const a = proxy.listenerAddress(name);
  if (!a) throw new Error(`listener ${name} is not bound`);
  return a.port;
}

/** A TCP echo server counting accepted connections; optional TLS. */
export async function echoServer(
  t: After,
  o: { tls?: tls.TlsOptions } = {},
): Promise<{ port: number; accepted: () => number; sockets: Set<net.Socket>; server: net.Server }> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const handler = (s: net.Socket): void => {
    n++;
    sockets.add(s);
    s.on('error', () => {
      /* the client side of a test may reset */
    });
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  };
  const server = o.tls ? tls.createServer({ ...o.tls, allowHalfOpen: true }, handler) : net.createServer({ allowHalfOpen: true }, handler);
  server.on('tlsClientError', () => {
    /* counted by the test through its client */
  });
  // Every accepted TCP connection, including TLS ones still in their handshake, is destroyed at the end.
  const raw = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    raw.add(s);
    s.on('close', () => raw.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of [...sockets, ...raw]) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, accepted: () => n, sockets, server };
}

/** A port nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

export interface ClientResult {
  ok: boolean;
  echoed: string;
  error?: string;
  tlsVersion?: string;
  serverSerial?: string;
}

/** Connects (TLS when `tlsOpts` given), sends `payload`, half-closes, collects what comes back. */
export function roundTrip(p: number, payload: string | Buffer, tlsOpts?: tls.ConnectionOptions, timeoutMs = 8000): Promise<ClientResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let version: string | undefined;
    let serial: string | undefined;
    let settled = false;
    const s: net.Socket = tlsOpts
      ? tls.connect({ host: '127.0.0.1', port: p, rejectUnauthorized: false, ...tlsOpts }, () => {
          const ts = s as tls.TLSSocket;
          version = ts.getProtocol() ?? undefined;
          serial = ts.getPeerX509Certificate()?.serialNumber;
          s.end(payload);
        })
      : net.connect({ host: '127.0.0.1', port: p }, () => s.end(payload));
    const timer = setTimeout(() => done(false, 'client timeout'), timeoutMs);
    const done = (ok: boolean, error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ ok, echoed: Buffer.concat(chunks).toString(), error, tlsVersion: version, serverSerial: serial });
    };
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => done(true));
    s.on('error', (e: NodeJS.ErrnoException) => done(false, e.code ?? e.message));
    s.on('close', () => done(chunks.length > 0));
  });
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function metric(proxy: Proxy, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await proxy.stats.registry.getSingleMetric(name)?.get();
  if (!m) return 0;
  let sum = 0;
  for (const v of m.values) {
    if (Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val)) sum += v.value;
  }
  return sum;
}

/** Polls `cond` every 20 ms up to `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
