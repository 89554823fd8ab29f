// What the proxy attack target (proxy-target.ts, a process of its own) is told, and the names it uses.
export interface ProxyTargetConfig {
  /** A server credential and its CA, inline in a Listener and a Cluster (their dumps must not show the key). */
  certPem: string;
  keyPem: string;
  caPem: string;
  /** The cap of listener CAPPED_LISTENER. */
  listenerCap: number;
  /** The global downstream cap over every listener. */
  globalCap: number;
}

export const CAPPED_LISTENER = 'soak_capped';
export const OPEN_LISTENER = 'soak_open';
export const INLINE_TLS_LISTENER = 'soak_inline_tls';
export const INLINE_TLS_CLUSTER = 'soak_inline_tls_upstream';

/** The target's ready line. */
export interface ProxyTargetReady {
  cappedPort: number;
  openPort: number;
  adminAddress: string;
  pid: number;
}
