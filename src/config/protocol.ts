// Istio's protocol selection for ports (pkg/config/protocol and kube.ConvertProtocol): an explicit
// `appProtocol` wins, otherwise the port name's prefix up to the first `-` (`tcp-mysql` → TCP,
// `tls-mysql` → TLS, `http2` → HTTP2), case-insensitive. Unknown prefixes leave the protocol undecided,
// which Istio handles with protocol sniffing; meshgate's L4 data plane treats that as TCP.

const KNOWN: Record<string, string> = {
  tcp: 'TCP',
  udp: 'UDP',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-WEB',
  http: 'HTTP',
  http_proxy: 'HTTP_PROXY',
  http2: 'HTTP2',
  https: 'HTTPS',
  tls: 'TLS',
  mongo: 'MONGO',
  redis: 'REDIS',
  mysql: 'MYSQL',
};

/** `protocol.Parse`: the canonical upper-case protocol for a name, or undefined when unknown. */
export function parseProtocol(name: string): string | undefined {
  return KNOWN[name.toLowerCase()];
}

/** Istio protocols accepted in ServiceEntry/Gateway/Sidecar `port.protocol`. */
export const ISTIO_PROTOCOLS = ['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'MYSQL', 'REDIS', 'TCP', 'TLS', 'UDP'] as const;

/** The protocol Istio gives a port named `name` (`tcp-mysql` → TCP), or undefined when it would sniff. */
export function protocolFromPortName(name: string | undefined, appProtocol?: string, l4Protocol?: string): string | undefined {
  if (l4Protocol === 'UDP') return 'UDP';
  let n = appProtocol ?? name ?? '';
  if (n.toLowerCase().startsWith('grpc-web')) return 'GRPC-WEB';
  const dash = n.indexOf('-');
  if (dash >= 0) n = n.slice(0, dash);
  return parseProtocol(n);
}
