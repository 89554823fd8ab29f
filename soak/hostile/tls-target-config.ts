// What the TLS attack target (tls-target.ts, a process of its own) is told, and the names it uses.
export interface TlsTargetConfig {
  serverName: string;
  certPem: string;
  keyPem: string;
  caPem: string;
  /** DNS SANs a client certificate must carry (the allow-list). */
  allowedSans: string[];
  /** The listener-filter and handshake timeout, as a duration string ("2s"). */
  timeout: string;
}

export const TARGET_LISTENER = 'soak_mtls_13306';
export const TARGET_CREDENTIAL = 'kubernetes://soak-credential';

/** What `GET /state` on the target's status port answers. */
export interface TlsTargetState {
  rssBytes: number;
  heapUsedBytes: number;
  sessions: number;
  bufferedBytes: number;
  echoSockets: number;
  warnings: string[];
}
