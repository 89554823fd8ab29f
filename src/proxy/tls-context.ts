// Downstream and upstream TLS (envoy.extensions.transport_sockets.tls.v3 DownstreamTlsContext and
// UpstreamTlsContext): compiled once per xDS update, turned into a Node TLS server or SecureContext once
// per version of the secrets they reference, and reused by every connection until a secret changes.
// Peer verification is done here so that every refusal carries a reason a person can act on, in the
// spirit of Envoy's %DOWNSTREAM_TRANSPORT_FAILURE_REASON% / %UPSTREAM_TRANSPORT_FAILURE_REASON%.
import tls from 'node:tls';
import { constants, createHash } from 'node:crypto';
import type { X509Certificate } from 'node:crypto';
import type {
  CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, StringMatcher, TlsParameters, UpstreamTlsContext,
} from '../xds/envoy-types.js';
import { ProxyConfigError } from './errors.js';
import { optionalDurationMs } from './duration.js';
import { checkSans, compileSanMatchers, compileStringMatcher, parseSubjectAltName, principalOf, type CompiledSanMatcher, type PeerSans } from './matchers.js';
import { readDataSource, readDataSourceBytes, type SecretStore } from './secrets.js';
import { checkTlsFields } from './tls-fields.js';

type NodeTlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
const VERSIONS: Record<string, NodeTlsVersion | undefined> = {
  TLS_AUTO: undefined, TLSv1_0: 'TLSv1', TLSv1_1: 'TLSv1.1', TLSv1_2: 'TLSv1.2', TLSv1_3: 'TLSv1.3',
};

/** What the proxy learned about the peer's certificate, read once per handshake. */
export interface PeerIdentity {
  principal: string;
  sans: PeerSans;
  serial: string;
  subject: string;
  issuer: string;
  validTo: string;
}

export function peerIdentityOf(cert: X509Certificate | undefined): PeerIdentity | undefined {
  if (!cert) return undefined;
  const sans = parseSubjectAltName(cert.subjectAltName);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return { principal: principalOf(sans, cn), sans, serial: cert.serialNumber, subject: cert.subject, issuer: cert.issuer, validTo: cert.validTo };
}

/** Where a piece of TLS material comes from: an SDS secret by name, or inline PEM in the resource. */
type Material = { secret: string } | { inline: string } | undefined;

interface CompiledCommon {
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
  if (!Array.isArray(v) || v.some((c) => typeof c !== 'string' || c === '' || c.includes(':'))) throw new ProxyConfigError(res, field, 'must be a list of names');
  if (v.length === 0) return undefined;
  const list = v.join(':');
  try {
    probe(list);
  } catch (err) {
    throw new ProxyConfigError(res, field, `OpenSSL does not accept these ${what}: ${(err as Error).message}`);
  }
  return list;
}

function compileParams(p: TlsParameters | undefined, res: string, f: string): Pick<CompiledCommon, 'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurve' | 'sigalgs'> {
  checkTlsFields('TlsParameters', p, res, f);
  const params = p ?? {};
  const ver = (v: unknown, field: string): NodeTlsVersion | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(v in VERSIONS)) throw new ProxyConfigError(res, `${f}.${field}`, `must be one of ${Object.keys(VERSIONS).join(', ')}, got ${JSON.stringify(v)}`);
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
    if (!Array.isArray(params.cipherSuites) || params.cipherSuites.some((c) => typeof c !== 'string')) throw new ProxyConfigError(res, `${f}.cipherSuites`, 'must be a list of strings');
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
  const sigalgs = opensslList(params.signatureAlgorithms, res, `${f}.signatureAlgorithms`, 'signature algorithms', (l) => tls.createSecureContext({ sigalgs: l }));
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

interface CompiledValidation { ca: Material; crl?: string; sans: CompiledSanMatcher[]; acceptUntrusted: boolean; field: string }

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
  if (val.sans.length > 0) throw new ProxyConfigError(res, `${val.field}.matchTypedSubjectAltNames`, 'SAN-based verification of peer certificates without a trusted CA is insecure and not allowed');
  if (val.crl !== undefined) throw new ProxyConfigError(res, `${val.field}.crl`, 'a CRL without a trusted CA would never be checked');
}

function compileCommon(c: CommonTlsContext | undefined, res: string, f: string): CompiledCommon {
  checkTlsFields('CommonTlsContext', c, res, f);
  const common = c ?? {};
  let cert: Material;
  let key: string | undefined;
  const sds = common.tlsCertificateSdsSecretConfigs;
  if (sds !== undefined) {
    if (!Array.isArray(sds) || sds.length === 0) throw new ProxyConfigError(res, `${f}.tlsCertificateSdsSecretConfigs`, 'must be a non-empty list');
    if (sds.length > 1) throw new ProxyConfigError(res, `${f}.tlsCertificateSdsSecretConfigs`, 'only one certificate per context is supported');
    if (typeof sds[0]?.name !== 'string' || sds[0].name === '') throw new ProxyConfigError(res, `${f}.tlsCertificateSdsSecretConfigs[0].name`, 'must name a secret');
    checkTlsFields('SdsSecretConfig', sds[0], res, `${f}.tlsCertificateSdsSecretConfigs[0]`);
    cert = { secret: sds[0].name };
  } else if (common.tlsCertificates !== undefined) {
    if (!Array.isArray(common.tlsCertificates) || common.tlsCertificates.length !== 1) throw new ProxyConfigError(res, `${f}.tlsCertificates`, 'exactly one certificate is supported');
    checkTlsFields('TlsCertificate', common.tlsCertificates[0], res, `${f}.tlsCertificates[0]`);
    const pem = readDataSource(common.tlsCertificates[0]!.certificateChain, res, `${f}.tlsCertificates[0].certificateChain`);
    key = readDataSource(common.tlsCertificates[0]!.privateKey, res, `${f}.tlsCertificates[0].privateKey`);
    if (!pem || !key) throw new ProxyConfigError(res, `${f}.tlsCertificates[0]`, 'needs certificateChain and privateKey');
    cert = { inline: pem };
  }
  let val = compileValidation(common.validationContext, res, `${f}.validationContext`);
  if (common.validationContextSdsSecretConfig) {
    const n = common.validationContextSdsSecretConfig.name;
    if (typeof n !== 'string' || n === '') throw new ProxyConfigError(res, `${f}.validationContextSdsSecretConfig.name`, 'must name a secret');
    checkTlsFields('SdsSecretConfig', common.validationContextSdsSecretConfig, res, `${f}.validationContextSdsSecretConfig`);
    val = { ...val, ca: { secret: n } };
  }
  if (common.combinedValidationContext) {
    const cvc = common.combinedValidationContext;
    checkTlsFields('CombinedCertificateValidationContext', cvc, res, `${f}.combinedValidationContext`);
    checkTlsFields('SdsSecretConfig', cvc.validationContextSdsSecretConfig, res, `${f}.combinedValidationContext.validationContextSdsSecretConfig`);
    const d = compileValidation(cvc.defaultValidationContext, res, `${f}.combinedValidationContext.defaultValidationContext`);
    const n = cvc.validationContextSdsSecretConfig?.name;
    if (typeof n !== 'string' || n === '') throw new ProxyConfigError(res, `${f}.combinedValidationContext.validationContextSdsSecretConfig.name`, 'must name a secret');
    val = { ...d, ca: { secret: n } };
  }
  checkNeedsCa(val, res);
  const alpn = common.alpnProtocols ?? [];
  if (!Array.isArray(alpn) || alpn.some((a) => typeof a !== 'string')) throw new ProxyConfigError(res, `${f}.alpnProtocols`, 'must be a list of strings');
  return { cert, key, ca: val.ca, crl: val.crl, sanMatchers: val.sans, acceptUntrusted: val.acceptUntrusted, alpn, ...compileParams(common.tlsParams, res, `${f}.tlsParams`) };
}

/** Resolves the material against the secret store: PEM strings and a version key, or why it cannot. */
function resolve(c: CompiledCommon, store: SecretStore): { cert?: string; key?: string; ca?: string; crl?: string; versionKey: string } | { unavailable: string } {
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

function describeVerifyError(code: string | undefined, peer: PeerIdentity): string {
  // Node gives OpenSSL's X509 error code; say it the way OpenSSL's verify does.
  const text: Record<string, string> = {
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
    UNABLE_TO_GET_ISSUER_CERT: 'unable to get issuer certificate',
    // OpenSSL says "unable to verify the first certificate" when a lone leaf's issuer is unknown: same cause.
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to get local issuer certificate',
    SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
    CERT_HAS_EXPIRED: 'certificate has expired',
    CERT_NOT_YET_VALID: 'certificate is not yet valid',
    CERT_REVOKED: 'certificate revoked',
    INVALID_PURPOSE: 'unsupported certificate purpose (no clientAuth/serverAuth extended key usage)',
    CERT_SIGNATURE_FAILURE: 'certificate signature failure',
    UNABLE_TO_GET_CRL: 'unable to get certificate CRL',
    CRL_HAS_EXPIRED: 'CRL has expired',
  };
  const issuerHint = code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || code === 'UNABLE_TO_GET_ISSUER_CERT'
    ? ` (issuer "${peer.issuer.replace(/\n/g, ', ')}" of ${peer.principal || peer.subject.replace(/\n/g, ', ')} is not in the trusted CA bundle)`
    : code === 'CERT_HAS_EXPIRED' ? ` (${peer.principal || peer.subject.replace(/\n/g, ', ')} expired ${peer.validTo})` : '';
  return `certificate verify failed: ${(code && text[code]) ?? code ?? 'unknown error'}${issuerHint}`;
}

/** The result of a TLS handshake once the peer has been checked. */
export type PeerCheck = { ok: true; peer: PeerIdentity | undefined } | { ok: false; reason: string; peer: PeerIdentity | undefined };

function checkPeer(sock: tls.TLSSocket, c: CompiledCommon, hasCa: boolean, requireCert: boolean): PeerCheck {
  const peer = peerIdentityOf(sock.getPeerX509Certificate());
  if (!peer) return requireCert ? { ok: false, reason: 'peer did not return a certificate', peer } : { ok: true, peer };
  if (hasCa && !c.acceptUntrusted && !sock.authorized) return { ok: false, reason: describeVerifyError(sock.authorizationError as unknown as string, peer), peer };
  const san = checkSans(c.sanMatchers, peer.sans);
  if (san) return { ok: false, reason: san, peer };
  return { ok: true, peer };
}

export interface DownstreamServer {
  /** A TLS server that never listens: raw connections are handed to it with `emit('connection', socket)`. */
  server: tls.Server;
  versionKey: string;
}

/** DownstreamTlsContext, compiled. */
export class DownstreamTls {
  private readonly c: CompiledCommon;
  readonly requireClientCertificate: boolean;
  readonly requireSni: boolean;
  private cached: DownstreamServer | undefined;
  private cachedGeneration = -1;

  /** Node's single 48-byte ticket key, from Envoy's first 80-byte key (undefined: a random key per server). */
  private readonly ticketKeys: Buffer | undefined;
  private readonly secureOptions: number;
  /** Envoy's session_timeout in whole seconds (undefined: Node's default, 300 s). */
  private readonly sessionTimeoutS: number | undefined;

  constructor(ctx: DownstreamTlsContext, private readonly res: string, field: string, private readonly handshakeTimeoutMs: number) {
    checkTlsFields('DownstreamTlsContext', ctx, res, field);
    this.c = compileCommon(ctx.commonTlsContext, res, `${field}.commonTlsContext`);
    // Envoy (BoringSSL) never allows a client to renegotiate a TLS 1.2 session; Node allows 3 per 10 min.
    let opts = constants.SSL_OP_NO_RENEGOTIATION;
    if (ctx.disableStatelessSessionResumption === true) opts |= constants.SSL_OP_NO_TICKET;
    this.secureOptions = opts;
    this.ticketKeys = compileTicketKeys(ctx.sessionTicketKeys, res, `${field}.sessionTicketKeys`);
    if (ctx.sessionTimeout !== undefined) {
      const ms = optionalDurationMs(ctx.sessionTimeout, 0, res, `${field}.sessionTimeout`);
      if (ms < 1000 && ms !== 0) throw new ProxyConfigError(res, `${field}.sessionTimeout`, 'must be at least 1s (TLS session lifetimes are whole seconds)');
      this.sessionTimeoutS = Math.floor(ms / 1000);
    }
    if (!this.c.cert) throw new ProxyConfigError(res, `${field}.commonTlsContext`, 'a server TLS context needs a certificate (tlsCertificateSdsSecretConfigs or tlsCertificates)');
    this.requireClientCertificate = ctx.requireClientCertificate === true;
    if (this.requireClientCertificate && !this.c.ca) throw new ProxyConfigError(res, `${field}.requireClientCertificate`, 'requires a validation context with a trusted CA');
    this.requireSni = ctx.requireSni === true;
  }

  /** Secret names this context needs. */
  secretNames(): string[] {
    return [this.c.cert, this.c.ca].flatMap((m) => (m && 'secret' in m ? [m.secret] : []));
  }

  /** The TLS server for the current secret versions (built once per version), or why there is none. */
  server(store: SecretStore): DownstreamServer | { unavailable: string } {
    if (this.cached && this.cachedGeneration === store.generation) return this.cached;
    const r = resolve(this.c, store);
    if ('unavailable' in r) return r;
    this.cachedGeneration = store.generation;
    if (this.cached && this.cached.versionKey === r.versionKey) return this.cached;
    let server: tls.Server;
    try {
      server = this.newServer(r);
    } catch (err) {
      // Inline material that only fails once combined (e.g. a CRL with this CA): refuse, never serve plain.
      this.cachedGeneration = -1;
      return { unavailable: `the TLS context cannot be built from its secrets: ${(err as Error).message}` };
    }
    this.cached = { server, versionKey: r.versionKey };
    return this.cached;
  }

  private newServer(r: { cert?: string; key?: string; ca?: string; crl?: string }): tls.Server {
    return new tls.Server({
      cert: r.cert, key: r.key, ca: r.ca, crl: r.crl,
      // Envoy's server default minimum is TLS 1.2.
      minVersion: this.c.minVersion ?? 'TLSv1.2', maxVersion: this.c.maxVersion ?? 'TLSv1.3',
      ciphers: this.c.ciphers,
      requestCert: r.ca !== undefined,
      // Verification is checked in verify() so that each refusal gets a precise reason.
      rejectUnauthorized: false,
      ALPNProtocols: this.c.alpn.length > 0 ? this.c.alpn : undefined,
      ecdhCurve: this.c.ecdhCurve, sigalgs: this.c.sigalgs,
      handshakeTimeout: this.handshakeTimeoutMs,
      secureOptions: this.secureOptions,
      // Node's default session id context hashes the process's argv, and OpenSSL resumes only sessions of the
      // same context: proxies sharing ticket keys share a context derived from the key instead.
      ...(this.ticketKeys ? { ticketKeys: this.ticketKeys, sessionIdContext: createHash('sha256').update(this.ticketKeys).digest('hex').slice(0, 32) } : {}),
      ...(this.sessionTimeoutS !== undefined ? { sessionTimeout: this.sessionTimeoutS } : {}),
    });
  }

  verify(sock: tls.TLSSocket): PeerCheck {
    return checkPeer(sock, this.c, this.c.ca !== undefined, this.requireClientCertificate);
  }

  describe(): string {
    return this.res;
  }
}

/** UpstreamTlsContext, compiled; holds the SecureContext and the session tickets for resumption. */
export class UpstreamTls {
  private readonly c: CompiledCommon;
  readonly sni: string | undefined;
  private ctx: tls.SecureContext | undefined;
  private versionKey = '';
  private ctxGeneration = -1;
  /** One resumable session per upstream host (Envoy's max_session_keys default is 1). */
  private readonly sessions = new Map<string, Buffer>();
  /** The identity verified on the full handshake that produced a host's session tickets. */
  private readonly verifiedPeers = new Map<string, PeerIdentity>();

  /** Envoy's allow_renegotiation: false (the default) refuses a server's HelloRequest, as BoringSSL's ssl_renegotiate_never. */
  private readonly secureOptions: number;
  /** Envoy's max_session_keys: 0 turns session resumption off; otherwise one session per host is kept. */
  private readonly resume: boolean;

  constructor(t: UpstreamTlsContext, res: string, field: string) {
    checkTlsFields('UpstreamTlsContext', t, res, field);
    this.c = compileCommon(t.commonTlsContext, res, `${field}.commonTlsContext`);
    this.secureOptions = t.allowRenegotiation === true ? 0 : constants.SSL_OP_NO_RENEGOTIATION;
    if (t.maxSessionKeys !== undefined && (!Number.isInteger(t.maxSessionKeys) || t.maxSessionKeys < 0)) throw new ProxyConfigError(res, `${field}.maxSessionKeys`, 'must be a non-negative integer');
    this.resume = t.maxSessionKeys !== 0;
    if (t.sni !== undefined && (typeof t.sni !== 'string' || t.sni.length > 255)) throw new ProxyConfigError(res, `${field}.sni`, 'must be a host name');
    this.sni = t.sni || undefined;
  }

  secretNames(): string[] {
    return [this.c.cert, this.c.ca].flatMap((m) => (m && 'secret' in m ? [m.secret] : []));
  }

  /** Options for tls.connect for this host, or why there are none (a secret not received yet). */
  connectOptions(store: SecretStore, hostKey: string): tls.ConnectionOptions | { unavailable: string } {
    if (!this.ctx || this.ctxGeneration !== store.generation) {
      const r = resolve(this.c, store);
      if ('unavailable' in r) return r;
      this.ctxGeneration = store.generation;
      if (!this.ctx || r.versionKey !== this.versionKey) {
        try {
          this.ctx = tls.createSecureContext({
            cert: r.cert, key: r.key, ca: r.ca, crl: r.crl,
            minVersion: this.c.minVersion ?? 'TLSv1.2', maxVersion: this.c.maxVersion ?? 'TLSv1.3', ciphers: this.c.ciphers,
            ecdhCurve: this.c.ecdhCurve, sigalgs: this.c.sigalgs, secureOptions: this.secureOptions,
          });
        } catch (err) {
          this.ctxGeneration = -1;
          return { unavailable: `the TLS context cannot be built from its secrets: ${(err as Error).message}` };
        }
        this.versionKey = r.versionKey;
        // Sessions were negotiated with the old credentials: do not resume them.
        this.sessions.clear();
        this.verifiedPeers.clear();
      }
    }
    return {
      secureContext: this.ctx,
      servername: this.sni,
      session: this.sessions.get(hostKey),
      rejectUnauthorized: false,
      // Envoy does not check the host name; SAN matchers do that job.
      checkServerIdentity: noHostnameCheck,
      ALPNProtocols: this.c.alpn.length > 0 ? this.c.alpn : undefined,
    };
  }

  saveSession(hostKey: string, session: Buffer): void {
    if (!this.resume) return;
    // A session from a handshake that then fails verification is dropped again by dropSession().
    this.sessions.set(hostKey, session);
  }

  dropSession(hostKey: string): void {
    this.sessions.delete(hostKey);
    this.verifiedPeers.delete(hostKey);
  }

  /**
   * Checks the server after the handshake. A resumed session carries no certificate: it is bound to
   * the one verified on the full handshake that issued its ticket, whose identity is reused here.
   */
  verify(sock: tls.TLSSocket, hostKey: string): PeerCheck {
    if (sock.isSessionReused()) {
      const peer = this.verifiedPeers.get(hostKey);
      if (peer) return { ok: true, peer };
    }
    const r = checkPeer(sock, this.c, this.c.ca !== undefined, true);
    if (r.ok && r.peer) this.verifiedPeers.set(hostKey, r.peer);
    return r;
  }
}

/**
 * Envoy's session_ticket_keys: 80 bytes each (16 name, 32 HMAC secret, 32 AES key), the first encrypting new
 * tickets. Node takes one 48-byte key (16 name, 16 HMAC, 16 AES), so it is cut from the first key the same
 * way on every proxy: proxies given the same keys resume each other's sessions. Node cannot also decrypt
 * with the older keys of a rotation; tickets issued under those get a full handshake instead.
 */
function compileTicketKeys(k: DownstreamTlsContext['sessionTicketKeys'], res: string, field: string): Buffer | undefined {
  if (k === undefined) return undefined;
  checkTlsFields('TlsSessionTicketKeys', k, res, field);
  if (!Array.isArray(k.keys) || k.keys.length === 0) throw new ProxyConfigError(res, `${field}.keys`, 'must be a non-empty list');
  const keys = k.keys.map((d, i) => {
    const b = readDataSourceBytes(d, res, `${field}.keys[${i}]`);
    // Envoy rejects any other length the same way.
    if (b.length !== 80) throw new ProxyConfigError(res, `${field}.keys[${i}]`, `a session ticket key must be 80 bytes, got ${b.length}`);
    return b;
  });
  const first = keys[0]!;
  return Buffer.concat([first.subarray(0, 16), first.subarray(16, 32), first.subarray(48, 64)]);
}

function noHostnameCheck(): undefined {
  return undefined;
}
