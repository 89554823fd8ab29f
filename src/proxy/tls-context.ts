// Downstream and upstream TLS (envoy.extensions.transport_sockets.tls.v3 DownstreamTlsContext and
// UpstreamTlsContext): compiled once per xDS update, turned into a Node TLS server or SecureContext once
// per version of the secrets they reference, and reused by every connection until a secret changes.
// Peer verification is done here so that every refusal carries a reason a person can act on, in the
// spirit of Envoy's %DOWNSTREAM_TRANSPORT_FAILURE_REASON% / %UPSTREAM_TRANSPORT_FAILURE_REASON%.
import tls from 'node:tls';
import { constants, createHash } from 'node:crypto';
import type { X509Certificate } from 'node:crypto';
import type { DownstreamTlsContext, UpstreamTlsContext } from '../envoy/envoy-types.js';
import { compileCommon, resolve, type CompiledCommon } from './common-tls-context.js';
import { ProxyConfigError } from './errors.js';
import { currentRuntime } from '../shared/runtime.js';
import { optionalDurationMs } from './duration.js';
import { checkSans, parseSubjectAltName, principalOf, type PeerSans } from './matchers.js';
import { readDataSourceBytes, type SecretStore } from './secrets.js';
import { checkTlsFields } from './tls-fields.js';
import type { TlsFailureCode } from './failure.js';

/**
 * What the proxy learned about the peer's certificate, read once per handshake and kept for the
 * connection's life (access log, RBAC, metrics). Only what those need: the subject, issuer and expiry
 * are read from the certificate when a refusal must name them (each is a native call building a string).
 */
export interface PeerIdentity {
  principal: string;
  sans: PeerSans;
  serial: string;
}

export function peerIdentityOf(cert: X509Certificate | undefined): PeerIdentity | undefined {
  if (!cert) return undefined;
  const sans = parseSubjectAltName(cert.subjectAltName);
  // The subject's CN names the peer only when the certificate has no URI or DNS SAN.
  const cn = sans.uri.length > 0 || sans.dns.length > 0 ? undefined : /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return { principal: principalOf(sans, cn), sans, serial: cert.serialNumber };
}

function describeVerifyError(code: string | undefined, peer: PeerIdentity, cert: X509Certificate): string {
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
  const who = (): string => peer.principal || cert.subject.replace(/\n/g, ', ');
  const issuerHint =
    code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || code === 'UNABLE_TO_GET_ISSUER_CERT'
      ? ` (issuer "${cert.issuer.replace(/\n/g, ', ')}" of ${who()} is not in the trusted CA bundle)`
      : code === 'CERT_HAS_EXPIRED'
        ? ` (${who()} expired ${cert.validTo})`
        : '';
  return `certificate verify failed: ${(code && text[code]) ?? code ?? 'unknown error'}${issuerHint}`;
}

/** The result of a TLS handshake once the peer has been checked. */
export type PeerCheck =
  { ok: true; peer: PeerIdentity | undefined } | { ok: false; code: TlsFailureCode; reason: string; peer: PeerIdentity | undefined };

function checkPeer(sock: tls.TLSSocket, c: CompiledCommon, hasCa: boolean, requireCert: boolean): PeerCheck {
  const cert = sock.getPeerX509Certificate();
  const peer = peerIdentityOf(cert);
  if (!peer || !cert)
    return requireCert ? { ok: false, code: 'no_peer_certificate', reason: 'peer did not return a certificate', peer } : { ok: true, peer };
  if (hasCa && !c.acceptUntrusted && !sock.authorized)
    return {
      ok: false,
      code: 'certificate_verify_failed',
      reason: describeVerifyError(sock.authorizationError as unknown as string, peer, cert),
      peer,
    };
  const san = checkSans(c.sanMatchers, peer.sans);
  if (san) return { ok: false, code: 'san_mismatch', reason: san, peer };
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
  /** The same server without ALPN, built on first need, for clients whose ALPN shares nothing with ours. */
  private cachedNoAlpn: DownstreamServer | undefined;
  private material: { cert?: string; key?: string; ca?: string; crl?: string } | undefined;
  private cachedGeneration = -1;

  /** Node's single 48-byte ticket key, from Envoy's first 80-byte key (undefined: a random key per server). */
  private readonly ticketKeys: Buffer | undefined;
  private readonly secureOptions: number;
  /** Envoy's session_timeout in whole seconds (undefined: Node's default, 300 s). */
  private readonly sessionTimeoutS: number | undefined;

  constructor(
    ctx: DownstreamTlsContext,
    private readonly res: string,
    field: string,
    private readonly handshakeTimeoutMs: number,
  ) {
    checkTlsFields('DownstreamTlsContext', ctx, res, field);
    this.c = compileCommon(ctx.commonTlsContext, res, `${field}.commonTlsContext`);
    // Envoy (BoringSSL) never allows a client to renegotiate a TLS 1.2 session; Node allows 3 per 10 min.
    let opts = constants.SSL_OP_NO_RENEGOTIATION;
    if (ctx.disableStatelessSessionResumption === true) opts |= constants.SSL_OP_NO_TICKET;
    this.secureOptions = opts;
    this.ticketKeys = compileTicketKeys(ctx.sessionTicketKeys, res, `${field}.sessionTicketKeys`);
    if (ctx.sessionTimeout !== undefined) {
      const ms = optionalDurationMs(ctx.sessionTimeout, 0, res, `${field}.sessionTimeout`);
      if (ms < 1000 && ms !== 0)
        throw new ProxyConfigError(res, `${field}.sessionTimeout`, 'must be at least 1s (TLS session lifetimes are whole seconds)');
      this.sessionTimeoutS = Math.floor(ms / 1000);
    }
    if (!this.c.cert)
      throw new ProxyConfigError(
        res,
        `${field}.commonTlsContext`,
        'a server TLS context needs a certificate (tlsCertificateSdsSecretConfigs or tlsCertificates)',
      );
    this.requireClientCertificate = ctx.requireClientCertificate === true;
    if (this.requireClientCertificate && !this.c.ca)
      throw new ProxyConfigError(res, `${field}.requireClientCertificate`, 'requires a validation context with a trusted CA');
    this.requireSni = ctx.requireSni === true;
  }

  /** Secret names this context needs. */
  secretNames(): string[] {
    return [this.c.cert, this.c.ca].flatMap((m) => (m && 'secret' in m ? [m.secret] : []));
  }

  /** Whether this context sets alpnProtocols (the listener then reads the ClientHello's ALPN list first). */
  get offersAlpn(): boolean {
    return this.c.alpn.length > 0;
  }

  /**
   * The TLS server for the current secret versions (built once per version), or why there is none.
   * `clientAlpn` is what the ClientHello offered (from the TLS inspector): when it shares nothing with
   * this context's alpnProtocols, Envoy's server goes on without ALPN (BoringSSL's NOACK) where Node's
   * would end the handshake with a no_application_protocol alert, so a server without ALPN takes it.
   */
  server(store: SecretStore, clientAlpn?: readonly string[]): DownstreamServer | { unavailable: string } {
    const withoutAlpn =
      this.c.alpn.length > 0 && clientAlpn !== undefined && clientAlpn.length > 0 && !clientAlpn.some((p) => this.c.alpn.includes(p));
    if (!this.cached || this.cachedGeneration !== store.generation) {
      const r = resolve(this.c, store);
      if ('unavailable' in r) return r;
      this.cachedGeneration = store.generation;
      if (!this.cached || this.cached.versionKey !== r.versionKey) {
        let server: tls.Server;
        try {
          server = this.newServer(r, this.c.alpn);
        } catch (err) {
          // Inline material that only fails once combined (e.g. a CRL with this CA): refuse, never serve plain.
          this.cachedGeneration = -1;
          return { unavailable: `the TLS context cannot be built from its secrets: ${(err as Error).message}` };
        }
        this.cached = { server, versionKey: r.versionKey };
        this.material = r;
        this.cachedNoAlpn = undefined;
      }
    }
    if (!withoutAlpn) return this.cached;
    this.cachedNoAlpn ??= { server: this.newServer(this.material!, []), versionKey: this.cached.versionKey };
    return this.cachedNoAlpn;
  }

  /** Rebuilds the server for changed secrets now if this context has built one before (see ListenerManager.refreshTls). */
  refresh(store: SecretStore): void {
    if (this.cached && this.cachedGeneration !== store.generation) this.server(store);
  }

  private newServer(r: { cert?: string; key?: string; ca?: string; crl?: string }, alpn: readonly string[]): tls.Server {
    return new tls.Server({
      cert: r.cert,
      key: r.key,
      ca: r.ca,
      crl: r.crl,
      // Envoy's server default minimum is TLS 1.2.
      minVersion: this.c.minVersion ?? 'TLSv1.2',
      maxVersion: this.c.maxVersion ?? 'TLSv1.3',
      ciphers: this.c.ciphers,
      requestCert: r.ca !== undefined,
      // Verification is checked in verify() so that each refusal gets a precise reason.
      rejectUnauthorized: false,
      ALPNProtocols: alpn.length > 0 ? [...alpn] : undefined,
      ecdhCurve: this.c.ecdhCurve,
      sigalgs: this.c.sigalgs,
      handshakeTimeout: this.handshakeTimeoutMs,
      secureOptions: this.secureOptions,
      // Node's default session id context hashes the process's argv, and OpenSSL resumes only sessions of the
      // same context: proxies sharing ticket keys share a context derived from the key instead.
      ...(this.ticketKeys
        ? { ticketKeys: this.ticketKeys, sessionIdContext: createHash('sha256').update(this.ticketKeys).digest('hex').slice(0, 32) }
        : {}),
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
  private readonly savers = new Map<string, (session: Buffer) => void>();

  /** Envoy's allow_renegotiation: false (the default) refuses a server's HelloRequest, as BoringSSL's ssl_renegotiate_never. */
  private readonly secureOptions: number;
  /** Envoy's max_session_keys: 0 turns session resumption off; otherwise one session per host is kept. */
  private readonly resume: boolean;

  constructor(t: UpstreamTlsContext, res: string, field: string) {
    checkTlsFields('UpstreamTlsContext', t, res, field);
    this.c = compileCommon(t.commonTlsContext, res, `${field}.commonTlsContext`);
    this.secureOptions = t.allowRenegotiation === true ? 0 : constants.SSL_OP_NO_RENEGOTIATION;
    if (t.maxSessionKeys !== undefined && (!Number.isInteger(t.maxSessionKeys) || t.maxSessionKeys < 0))
      throw new ProxyConfigError(res, `${field}.maxSessionKeys`, 'must be a non-negative integer');
    this.resume = t.maxSessionKeys !== 0;
    if (t.sni !== undefined && (typeof t.sni !== 'string' || t.sni.length > 255))
      throw new ProxyConfigError(res, `${field}.sni`, 'must be a host name');
    this.sni = t.sni || undefined;
  }

  secretNames(): string[] {
    return [this.c.cert, this.c.ca].flatMap((m) => (m && 'secret' in m ? [m.secret] : []));
  }

  /** Options for tls.connect for this host, or why there are none (a secret not received yet). */
  connectOptions(store: SecretStore, hostKey: string): tls.ConnectionOptions | { unavailable: string } {
    const ctx = this.context(store);
    if ('unavailable' in ctx) return ctx;
    return {
      secureContext: ctx,
      servername: this.sni,
      session: this.sessions.get(hostKey),
      rejectUnauthorized: false,
      // Envoy does not check the host name; SAN matchers do that job.
      checkServerIdentity: noHostnameCheck,
      ALPNProtocols: this.c.alpn.length > 0 ? this.c.alpn : undefined,
    };
  }

  /** Rebuilds the context for changed secrets now if this context has built one before (see ClusterManager.refreshTls). */
  refresh(store: SecretStore): void {
    if (this.ctx && this.ctxGeneration !== store.generation) this.context(store);
  }

  /** The SecureContext for the current secret versions (built once per version), or why there is none. */
  private context(store: SecretStore): tls.SecureContext | { unavailable: string } {
    if (!this.ctx || this.ctxGeneration !== store.generation) {
      const r = resolve(this.c, store);
      if ('unavailable' in r) return r;
      this.ctxGeneration = store.generation;
      if (!this.ctx || r.versionKey !== this.versionKey) {
        try {
          this.ctx = tls.createSecureContext({
            cert: r.cert,
            key: r.key,
            ca: r.ca,
            crl: r.crl,
            minVersion: this.c.minVersion ?? 'TLSv1.2',
            maxVersion: this.c.maxVersion ?? 'TLSv1.3',
            ciphers: this.c.ciphers,
            ecdhCurve: this.c.ecdhCurve,
            sigalgs: this.c.sigalgs,
            secureOptions: this.secureOptions,
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
    return this.ctx;
  }

  /** The 'session' listener for connections to one host, made once per host and shared by its connections. */
  sessionSaver(hostKey: string): (session: Buffer) => void {
    let f = this.savers.get(hostKey);
    if (!f) {
      f = (session: Buffer): void => this.saveSession(hostKey, session);
      // ORIGINAL_DST clusters meet an open-ended set of hosts: keep the table bounded.
      if (this.savers.size >= 4096) this.savers.clear();
      this.savers.set(hostKey, f);
    }
    return f;
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
  // Refused, not ignored: Bun's node:tls (1.4.5) drops the ticketKeys option and has no setTicketKeys, so
  // proxies given the same keys would not resume each other's sessions as the config says they do.
  if (currentRuntime() === 'bun')
    throw new ProxyConfigError(
      res,
      field,
      'is not supported when the proxy runs under Bun (its TLS servers ignore ticket keys); run this proxy under Node (--runtime node)',
    );
  const first = keys[0]!;
  return Buffer.concat([first.subarray(0, 16), first.subarray(16, 32), first.subarray(48, 64)]);
}

function noHostnameCheck(): undefined {
  return undefined;
}
