// Why a connection failed, as stable codes carried with the failure. One table maps each code to the
// Envoy response flag it sets (access log %RESPONSE_FLAGS%, Istio's response_flags label) and the codes
// are the `reason` labels of the proxy's failure counters, so a label never depends on message text
// (the message, with what a person needs to fix it, goes to the log and the access log).

/** Connection failures of a listener or of tcp_proxy, with the response flag Envoy sets for each. */
export const CONNECTION_FAILURES = {
  // Refused by the listener before any upstream was chosen (meshgate_proxy_downstream_refused_total).
  // Envoy sets NR only for the missing filter chain; the others close the connection without a flag.
  no_matching_filter_chain: 'NR',
  listener_filters_timeout: '',
  client_hello_too_large: '',
  sni_required: '',
  secret_not_ready: '',
  tls_handshake_failed: '',
  rbac_denied: '',
  // tcp_proxy (envoy.filters.network.tcp_proxy).
  no_cluster: 'NC',
  upstream_overflow: 'UO',
  no_healthy_upstream: 'UH',
  upstream_connect_failed: 'UF',
  /** Added next to UF when more than one connect attempt was allowed and all failed. */
  upstream_retry_limit_exceeded: 'URX',
  downstream_connection_termination: 'DC',
  upstream_connection_termination: 'UC',
} as const;

export type ConnectionFailureCode = keyof typeof CONNECTION_FAILURES;
export type ResponseFlag = (typeof CONNECTION_FAILURES)[ConnectionFailureCode];

/** The Envoy response flag of a failure ('' when Envoy sets none). */
export function responseFlagOf(code: ConnectionFailureCode): ResponseFlag {
  return CONNECTION_FAILURES[code];
}

/**
 * Why a TLS handshake or the peer check failed, downstream or upstream: the `reason` label of
 * meshgate_proxy_tls_handshake_failures_total.
 */
export type TlsFailureCode =
  | 'handshake_timeout'
  | 'connection_reset'
  | 'unsupported_protocol'
  | 'no_shared_cipher'
  | 'no_peer_certificate'
  | 'certificate_verify_failed'
  | 'san_mismatch'
  | 'secret_not_ready'
  | 'handshake_failed';

/** A TLS failure: its code and the text a person reads (log, access log's transport failure reason). */
export interface TlsFailure {
  code: TlsFailureCode;
  reason: string;
}

/**
 * Node's TLS error codes (OpenSSL's reason as ERR_SSL_<REASON>) → our code and the text we log. Anything
 * else is a `handshake_failed` with OpenSSL's own reason.
 */
const OPENSSL_ERRORS: Record<string, TlsFailure> = {
  ERR_TLS_HANDSHAKE_TIMEOUT: { code: 'handshake_timeout', reason: 'TLS handshake timeout' },
  ECONNRESET: { code: 'connection_reset', reason: 'connection reset by peer during TLS handshake' },
  ERR_SSL_UNSUPPORTED_PROTOCOL: {
    code: 'unsupported_protocol',
    reason: `TLS handshake failed: unsupported protocol (client's TLS version is below this chain's minimum)`,
  },
  ERR_SSL_NO_SHARED_CIPHER: { code: 'no_shared_cipher', reason: 'TLS handshake failed: no shared cipher' },
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: { code: 'no_peer_certificate', reason: 'peer did not return a certificate' },
};

/** The code of an upstream TLS socket error during the handshake (the text stays Node's message). */
export function upstreamTlsErrorCode(err: Error & { code?: string }): TlsFailureCode {
  return (err.code !== undefined ? OPENSSL_ERRORS[err.code]?.code : undefined) ?? 'handshake_failed';
}

/** A failed downstream handshake (tls.Server's tlsClientError), classified by Node's error code. */
export function downstreamTlsFailure(err: Error & { code?: string; reason?: string }): TlsFailure {
  const known = err.code !== undefined ? OPENSSL_ERRORS[err.code] : undefined;
  if (known) return known;
  return { code: 'handshake_failed', reason: `TLS handshake failed: ${err.reason ?? err.message.split('\n')[0] ?? 'unknown'}` };
}
