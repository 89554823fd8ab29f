// CommonTlsContext (envoy.extensions.transport_sockets.tls.v3), compiled once per xDS update for both
// sides: where the certificate and the trusted CA come from (SDS secret or inline), SAN matchers, CRL,
// TLS parameters as OpenSSL takes them; and resolving that against the secret store per secret version.
// Fields the proxy does not implement are refused by tls-fields.ts; this file reads the rest.
import tls from 'node:tls';
import type { CertificateValidationContext, CommonTlsContext, StringMatcher, TlsParameters } from '../envoy/envoy-types.js';
import { ProxyConfigError } from './errors.js';
import { compileSanMatchers, compileStringMatcher, type CompiledSanMatcher } from './matchers.js';
import { readDataSource, type SecretStore } from './secrets.js';
import { checkTlsFields } from './tls-fields.js';

export type NodeTlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
const VERSIONS: Record<string, NodeTlsVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSv1_0: 'TLSv1',
  TLSv1_1: 'TLSv1.1',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};

/** Where a piece of TLS material comes from: an SDS secret by name, or inline PEM in the resource. */
export type Material = { secret: string } | { inline: string } | undefined;

export interface CompiledCommon {
  cert: Material;
  key: string | undefined; // inline key when cert is inline
  ca: Material;
  crl: string | undefined;
  sanMatchers: CompiledSanMatcher[];
  acceptUntrusted: boolean;
  minVersion: NodeTlsVersion | undefined;
  maxVersion: NodeTlsVersion | undefined;
  ciphers: string | undefined;
  /** OpenSSL's colon-separated lists for Envoy's ecdhCurves and signatureAlgorithms (undefined: Node's defaults). */
  ecdhCurve: string | undefined;
  sigalgs: string | undefined;
  alpn: string[];
}

/** A list of names OpenSSL must accept as a whole (`probe` builds a context with it), as one colon-separated string. */
function opensslList(v: unknown, res: string, field: string, what: string, probe: (list: string) => void): string | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((c) => typeof c !== 'string' || c === '' || c.includes(':')))
    throw new ProxyConfigError(res, field, 'must be a list of names');
  if (v.length === 0) return undefined;
  const list = v.join(':');
  try {
    probe(list);
  } catch (err) {
    throw new ProxyConfigError(res, field, `OpenSSL does not accept these ${what}: ${(err as Error).message}`);
  }
  return list;
}

function compileParams(
  p: TlsParameters | undefined,
  res: string,
  f: string,
): Pick<CompiledCommon, 'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurve' | 'sigalgs'> {
  checkTlsFields('TlsParameters', p, res, f);
  const params = p ?? {};
  const ver = (v: unknown, field: string): NodeTlsVersion | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(v in VERSIONS))
      throw new ProxyConfigError(res, `${f}.${field}`, `must be one of ${Object.keys(VERSIONS).join(', ')}, got ${JSON.stringify(v)}`);
    return VERSIONS[v];
  };
  const minVersion = ver(params.tlsMinimumProtocolVersion, 'tlsMinimumProtocolVersion');
  const maxVersion = ver(params.tlsMaximumProtocolVersion, 'tlsMaximumProtocolVersion');
  const order = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
  if (minVersion && maxVersion && order.indexOf(minVersion) > order.indexOf(maxVersion)) {
    throw new ProxyConfigError(res, `${f}.tlsMinimumProtocolVersion`, `${minVersion} is above the maximum ${maxVersion}`);
  }
  let ciphers: string | undefined;
  if (params.cipherSuites !== undefined) {
    if (!Array.isArray(params.cipherSuites) || params.cipherSuites.some((c) => typeof c !== 'string'))
      throw new ProxyConfigError(res, `${f}.cipherSuites`, 'must be a list of strings');
    // Envoy's "[A|B]" equal-preference groups become a plain OpenSSL list.
    ciphers = params.cipherSuites.map((c) => c.replace(/[[\]]/g, '').replace(/\|/g, ':')).join(':');
    try {
      tls.createSecureContext({ ciphers });
    } catch (err) {
      throw new ProxyConfigError(res, `${f}.cipherSuites`, `OpenSSL accepts none of them: ${(err as Error).message}`);
    }
  }
  // Envoy's curve names (X25519, P-256, P-384, P-521) are OpenSSL's too; Node tries them in this order.
  const ecdhCurve = opensslList(params.ecdhCurves, res, `${f}.ecdhCurves`, 'curves', (l) => tls.createSecureContext({ ecdhCurve: l }));
  const sigalgs = opensslList(params.signatureAlgorithms, res, `${f}.signatureAlgorithms`, 'signature algorithms', (l) =>
    tls.createSecureContext({ sigalgs: l }),
  );
  return { minVersion, maxVersion, ciphers, ecdhCurve, sigalgs };
}

/**
 * Envoy's deprecated match_subject_alt_names: a plain StringMatcher that Envoy applies to the DNS, URI,
 * email and IP SANs alike, so each becomes one matcher per SAN type.
 */
function compileUntypedSanMatchers(ms: unknown, res: string, field: string): CompiledSanMatcher[] {
  if (ms === undefined) return [];
  if (!Array.isArray(ms)) throw new ProxyConfigError(res, field, 'must be a list');
  return (ms as StringMatcher[]).flatMap((m, i) => {
    const match = compileStringMatcher(m, res, `${field}[${i}]`);
    const desc = `any:${m.exact ?? m.prefix ?? m.suffix ?? m.contains ?? m.safeRegex?.regex ?? ''}`;
    return (['uri', 'dns', 'email', 'ip'] as const).map((kind) => ({ kind, match, describe: desc }));
  });
}

interface CompiledValidation {
  ca: Material;
  crl?: string;
  sans: CompiledSanMatcher[];
  acceptUntrusted: boolean;
  field: string;
}

function compileValidation(v: CertificateValidationContext | undefined, res: string, f: string): CompiledValidation {
  if (!v) return { ca: undefined, sans: [], acceptUntrusted: false, field: f };
  checkTlsFields('CertificateValidationContext', v, res, f);
  const pem = readDataSource(v.trustedCa, res, `${f}.trustedCa`);
  const crl = readDataSource(v.crl, res, `${f}.crl`);
  const acceptUntrusted = v.trustChainVerification === 'ACCEPT_UNTRUSTED';
  if (v.trustChainVerification !== undefined && !['VERIFY_TRUST_CHAIN', 'ACCEPT_UNTRUSTED'].includes(v.trustChainVerification)) {
    throw new ProxyConfigError(res, `${f}.trustChainVerification`, `unknown value ${JSON.stringify(v.trustChainVerification)}`);
  }
  const sans = [
    ...compileSanMatchers(v.matchTypedSubjectAltNames, res, `${f}.matchTypedSubjectAltNames`),
    ...compileUntypedSanMatchers(v.matchSubjectAltNames, res, `${f}.matchSubjectAltNames`),
  ];
  return { ca: pem ? { inline: pem } : undefined, crl, sans, acceptUntrusted, field: f };
}

/**
 * Envoy refuses SAN matchers (and a CRL) in a validation context without a trusted CA: without a chain
 * to verify, any self-signed certificate can carry the expected SAN, so the check would only look safe.
 */
function checkNeedsCa(val: CompiledValidation, res: string): void {
  if (val.ca) return;
  if (val.sans.length > 0)
    throw new ProxyConfigError(
      res,
      `${val.field}.matchTypedSubjectAltNames`,
      'SAN-based verification of peer certificates without a trusted CA is insecure and not allowed',
    );
  if (val.crl !== undefined) throw new ProxyConfigError(res, `${val.field}.crl`, 'a CRL without a trusted CA would never be checked');
}

export function compileCommon(c: CommonTlsContext | undefined, res: string, f: string): CompiledCommon {
  checkTlsFields('CommonTlsContext', c, res, f);
  const common = c ?? {};
  let cert: Material;
  let key: string | undefined;
  const sds = common.tlsCertificateSdsSecretConfigs;
  if (sds !== undefined) {
    if (!Array.isArray(sds) || sds.length === 0)
      throw new ProxyConfigError(res, `${f}.tlsCertificateSdsSecretConfigs`, 'must be a non-empty list');
    if (sds.length > 1)
      throw new ProxyConfigError(res, `${f}.tlsCertificateSdsSecretConfigs`, 'only one certificate per context is supported');
    if (typeof sds[0]?.name !== 'string' || sds[0].name === '')
      throw new ProxyConfigError(res, `${f}.tlsCertificateSdsSecretConfigs[0].name`, 'must name a secret');
    checkTlsFields('SdsSecretConfig', sds[0], res, `${f}.tlsCertificateSdsSecretConfigs[0]`);
    cert = { secret: sds[0].name };
  } else if (common.tlsCertificates !== undefined) {
    if (!Array.isArray(common.tlsCertificates) || common.tlsCertificates.length !== 1)
      throw new ProxyConfigError(res, `${f}.tlsCertificates`, 'exactly one certificate is supported');
    checkTlsFields('TlsCertificate', common.tlsCertificates[0], res, `${f}.tlsCertificates[0]`);
    const pem = readDataSource(common.tlsCertificates[0]!.certificateChain, res, `${f}.tlsCertificates[0].certificateChain`);
    key = readDataSource(common.tlsCertificates[0]!.privateKey, res, `${f}.tlsCertificates[0].privateKey`);
    if (!pem || !key) throw new ProxyConfigError(res, `${f}.tlsCertificates[0]`, 'needs certificateChain and privateKey');
    cert = { inline: pem };
  }
  let val = compileValidation(common.validationContext, res, `${f}.validationContext`);
  if (common.validationContextSdsSecretConfig) {
    const n = common.validationContextSdsSecretConfig.name;
    if (typeof n !== 'string' || n === '')
      throw new ProxyConfigError(res, `${f}.validationContextSdsSecretConfig.name`, 'must name a secret');
    checkTlsFields('SdsSecretConfig', common.validationContextSdsSecretConfig, res, `${f}.validationContextSdsSecretConfig`);
    val = { ...val, ca: { secret: n } };
  }
  if (common.combinedValidationContext) {
    const cvc = common.combinedValidationContext;
    checkTlsFields('CombinedCertificateValidationContext', cvc, res, `${f}.combinedValidationContext`);
    checkTlsFields(
      'SdsSecretConfig',
      cvc.validationContextSdsSecretConfig,
      res,
      `${f}.combinedValidationContext.validationContextSdsSecretConfig`,
    );
    const d = compileValidation(cvc.defaultValidationContext, res, `${f}.combinedValidationContext.defaultValidationContext`);
    const n = cvc.validationContextSdsSecretConfig?.name;
    if (typeof n !== 'string' || n === '')
      throw new ProxyConfigError(res, `${f}.combinedValidationContext.validationContextSdsSecretConfig.name`, 'must name a secret');
    val = { ...d, ca: { secret: n } };
  }
  checkNeedsCa(val, res);
  const alpn = common.alpnProtocols ?? [];
  if (!Array.isArray(alpn) || alpn.some((a) => typeof a !== 'string'))
    throw new ProxyConfigError(res, `${f}.alpnProtocols`, 'must be a list of strings');
  return {
    cert,
    key,
    ca: val.ca,
    crl: val.crl,
    sanMatchers: val.sans,
    acceptUntrusted: val.acceptUntrusted,
    alpn,
    ...compileParams(common.tlsParams, res, `${f}.tlsParams`),
  };
}

/** Resolves the material against the secret store: PEM strings and a version key, or why it cannot. */
export function resolve(
  c: CompiledCommon,
  store: SecretStore,
): { cert?: string; key?: string; ca?: string; crl?: string; versionKey: string } | { unavailable: string } {
  let cert: string | undefined;
  let key: string | undefined = c.key;
  let ca: string | undefined;
  let crl = c.crl;
  let versionKey = '';
  if (c.cert && 'secret' in c.cert) {
    const s = store.get(c.cert.secret);
    if (!s?.certChainPem || !s.privateKeyPem) return { unavailable: `secret "${c.cert.secret}" has not been received` };
    cert = s.certChainPem;
    key = s.privateKeyPem;
    versionKey += `c${s.version}`;
  } else if (c.cert) cert = c.cert.inline;
  if (c.ca && 'secret' in c.ca) {
    const s = store.get(c.ca.secret);
    if (!s?.trustedCaPem) return { unavailable: `secret "${c.ca.secret}" (trusted CA) has not been received` };
    ca = s.trustedCaPem;
    crl = crl ?? s.crlPem;
    versionKey += `a${s.version}`;
  } else if (c.ca) ca = c.ca.inline;
  return { cert, key, ca, crl, versionKey };
}
