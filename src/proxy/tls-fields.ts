// Which fields of Envoy's TLS messages (envoy.extensions.transport_sockets.tls.v3) the proxy honours.
// The codec lets every field of Envoy's protos through, so a field the proxy does not implement would
// otherwise be dropped without a word: a TLS setting the operator believes in force, silently absent.
// Every field not listed here (and set to something other than its default) is refused instead, the
// update NACKed naming the field, as Envoy NACKs a config it cannot honour.
import { ProxyConfigError } from './errors.js';

/** A field outside these lists, set to a non-default value, is refused. */
const SUPPORTED = {
  UpstreamTlsContext: ['@type', 'commonTlsContext', 'sni', 'allowRenegotiation', 'maxSessionKeys'],
  DownstreamTlsContext: [
    '@type',
    'commonTlsContext',
    'requireClientCertificate',
    'requireSni',
    'sessionTicketKeys',
    'disableStatelessSessionResumption',
    'sessionTimeout',
    // Node's TLS server keeps no server-side session cache (no 'resumeSession' handler), so stateful
    // resumption is never offered: `true` is what the proxy does anyway.
    'disableStatefulSessionResumption',
    // Only one certificate per context is supported, so there is never another one to scan for.
    'fullScanCertsOnSniMismatch',
  ],
  CommonTlsContext: [
    'tlsParams',
    'tlsCertificates',
    'tlsCertificateSdsSecretConfigs',
    'validationContext',
    'validationContextSdsSecretConfig',
    'combinedValidationContext',
    'alpnProtocols',
  ],
  TlsParameters: ['tlsMinimumProtocolVersion', 'tlsMaximumProtocolVersion', 'cipherSuites', 'ecdhCurves', 'signatureAlgorithms'],
  TlsCertificate: ['certificateChain', 'privateKey'],
  CertificateValidationContext: ['trustedCa', 'crl', 'matchTypedSubjectAltNames', 'matchSubjectAltNames', 'trustChainVerification'],
  CombinedCertificateValidationContext: ['defaultValidationContext', 'validationContextSdsSecretConfig'],
  SdsSecretConfig: ['name', 'sdsConfig'],
  TlsSessionTicketKeys: ['keys'],
  /** A validation context received over SDS: the CA and its CRL; matchers belong in the listener or cluster. */
  SecretValidationContext: ['trustedCa', 'crl'],
  Secret: ['@type', 'name', 'tlsCertificate', 'validationContext', 'genericSecret'],
} as const satisfies Record<string, readonly string[]>;

export type TlsMessage = keyof typeof SUPPORTED;

/** Why a well-known unsupported field is refused; the generic text covers the rest. */
const WHY: Record<string, string> = {
  keyLog: 'TLS key logging is not supported (it would write session secrets to a file)',
  sessionTicketKeysSdsSecretConfig: 'session ticket keys over SDS are not supported; give them inline in sessionTicketKeys',
  ocspStaplePolicy: 'OCSP stapling is not supported, so only the default LENIENT_STAPLING can be honoured',
  enforceRsaKeyUsage: 'RSA key-usage enforcement is not supported',
  allowExpiredCertificate: 'accepting expired certificates is not supported',
  verifyCertificateHash: 'certificate pinning by hash is not supported',
  verifyCertificateSpki: 'certificate pinning by SPKI is not supported',
  maxVerifyDepth: 'a maximum verification depth is not supported',
  onlyVerifyLeafCertCrl: 'the CRL is always checked for the whole chain',
  customValidatorConfig: 'custom certificate validators are not supported',
  systemRootCerts: 'give the system CA bundle as trustedCa (a filename)',
};

/** Values that mean "unset" in proto3 JSON: the field is then not a setting at all. */
function isDefault(v: unknown, key: string): boolean {
  if (v === undefined || v === null || v === false || v === '' || v === 0) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (key === 'ocspStaplePolicy') return v === 'LENIENT_STAPLING';
  return false;
}

/** Throws ProxyConfigError naming the first field of `obj` that `message` does not support. */
export function checkTlsFields(message: TlsMessage, obj: unknown, res: string, field: string): void {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return;
  const ok: readonly string[] = SUPPORTED[message];
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (ok.includes(k) || isDefault(v, k)) continue;
    const why =
      WHY[k] ??
      (message === 'SecretValidationContext'
        ? `a validation context received over SDS may carry only trustedCa and crl (${k}: put matchers in the listener's or cluster's defaultValidationContext)`
        : `${message}.${k} is not supported by meshgate's proxy`);
    throw new ProxyConfigError(res, field ? `${field}.${k}` : k, `${why}; the resource is refused rather than served without this setting`);
  }
}
