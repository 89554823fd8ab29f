// The proxy's bootstrap file (JSON or YAML), the counterpart of Envoy's bootstrap plus pilot-agent's
// environment: who the proxy is, where the control plane and the CA are, and where admin listens.
// `meshgate proxy --bootstrap FILE` reads it; the lab writes one per pod and gateway.
import type { ProxyNode } from '../envoy/node.js';
import type { ConnectionLimitSettings } from './connection-limits.js';

export interface ProxyBootstrap {
  node: ProxyNode;
  /** host:port of the control plane's ADS server (Istio: istiod:15012), TLS verified against `rootCertFile`. */
  discoveryAddress: string;
  /** host:port of the CA's IstioCertificateService; the same server as ADS unless set. */
  caAddress?: string;
  /** The mesh root certificate(s) (PEM) that the control plane's serving certificate chains to. */
  rootCertFile: string;
  /** A file holding the workload's service-account token (JWT), re-read on every use as Kubernetes rotates it. */
  tokenFile: string;
  /** SPIFFE trust domain of this proxy's cluster. */
  trustDomain: string;
  /** Requested workload certificate lifetime in seconds (Istio: 24 h). */
  certTtlSeconds?: number;
  /** Renew when this fraction of the lifetime is left (Istio's SECRET_GRACE_PERIOD_RATIO, 0.5). */
  certGraceRatio?: number;
  /** Admin (Envoy's 15000): loopback only, 127.0.0.1 by default; a non-loopback address is refused. */
  admin?: { address?: string; port?: number };
  /**
   * Where the Prometheus port (Istio: 15090) and the readiness port (Istio: 15021) listen: the pod IP or
   * 0.0.0.0, as Istio's, for scrapers and probes from outside the pod; by default `admin.address`.
   */
  probeAddress?: string;
  statsPort?: number;
  readinessPort?: number;
  accessLog?: { path?: string; format?: 'text' | 'json' };
  /** Seconds open connections may take to finish after SIGTERM or a listener removal. */
  drainTimeoutSeconds?: number;
  /**
   * The sidecar's DNS proxy (Istio's ISTIO_META_DNS_CAPTURE): answers the names in the control plane's
   * name table (NDS) on 127.0.0.1:`port` (UDP and TCP; Istio: 15053, where `capture --dns` sends the
   * pod's DNS) and forwards the rest to `upstream` ("ip" or "ip:port", IPv6 as "[ip]:port"), by default
   * the nameservers of the pod's /etc/resolv.conf.
   */
  dns?: { port?: number; upstream?: string[] };
  /**
   * Downstream connection caps: `globalDownstreamMaxConnections` (Envoy's overload manager
   * global_downstream_max_connections; default 50,000 or less when the descriptor limit is lower) and
   * `listeners: { <listener name>: N }` (Envoy's runtime envoy.resource_limits.listener.<name>.connection_limit).
   */
  connectionLimits?: ConnectionLimitSettings;
}
