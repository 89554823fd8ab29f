// Chain verification the way a TLS peer does it (RFC 5280 §6, as OpenSSL/BoringSSL apply it): build a
// path from the leaf to a trusted certificate, then check every certificate's validity window (with a
// bounded clock skew), CA constraints, the leaf's purpose and, when CRLs are configured, revocation.
// Failures say what to do: which certificate, which date, which issuer was missing.
import { X509Certificate as NodeX509 } from 'node:crypto';
import { parseCertificate, type CertificateInfo } from './certificate.js';
import { crlIssuedBy, parseCrl } from './crl.js';
import { splitPemBundle } from './pem.js';

export type VerifyFailureCode =
  | 'E_CERT_EMPTY_CHAIN'
  | 'E_CERT_EXPIRED'
  | 'E_CERT_NOT_YET_VALID'
  | 'E_CERT_UNKNOWN_ISSUER'
  | 'E_CERT_NOT_CA'
  | 'E_CERT_PATH_LENGTH'
  | 'E_CERT_WRONG_USAGE'
  | 'E_CERT_REVOKED'
  | 'E_CRL_MISSING'
  | 'E_CRL_EXPIRED';

export type VerifyResult =
  { ok: true; path: CertificateInfo[] } | { ok: false; code: VerifyFailureCode; reason: string; path?: CertificateInfo[] };

export interface VerifyOptions {
  now?: Date;
  /** Tolerated clock difference between the issuer and this host, 0..3600 s (default 0, as OpenSSL). */
  skewSeconds?: number;
  /** PEM CRLs; each non-root certificate in the path must then be covered by its issuer's CRL. */
  crlPems?: string[];
  /** Check revocation of the leaf only (Envoy's only_verify_leaf_cert_crl). */
  onlyLeafCrl?: boolean;
  /** The purpose the leaf is presented for: a server certificate needs serverAuth, a client one clientAuth. */
  usage?: 'server' | 'client';
}

const MAX_DEPTH = 10;
const MAX_SKEW_SECONDS = 3600;

interface Node {
  info: CertificateInfo;
  x: NodeX509;
  trusted: boolean;
}

function label(info: CertificateInfo): string {
  const who = info.subject || (info.uris[0] ?? info.dns[0] ?? '(empty subject)');
  return `"${who}" (serial ${info.serialHex})`;
}

function toNodes(pems: string[], trusted: boolean): Node[] {
  const out: Node[] = [];
  for (const text of pems) {
    for (const pem of splitPemBundle(text)) out.push({ info: parseCertificate(pem), x: new NodeX509(pem), trusted });
  }
  return out;
}

function signedBy(child: Node, issuer: Node): boolean {
  try {
    return child.x.verify(issuer.x.publicKey);
  } catch (err) {
    // Mismatched key types make OpenSSL raise instead of returning false; that is "not signed by".
    void err;
    return false;
  }
}

/**
 * Verifies `chainPems` (leaf first, then any intermediates; each entry may be a bundle) against the
 * trusted certificates in `trustedRootPems` (each entry may be a bundle; several roots are allowed).
 */
export function verifyChain(chainPems: string[], trustedRootPems: string[], opts: VerifyOptions = {}): VerifyResult {
  const now = opts.now ?? new Date();
  const skew = opts.skewSeconds ?? 0;
  if (!(skew >= 0 && skew <= MAX_SKEW_SECONDS)) throw new RangeError(`skewSeconds must be between 0 and ${MAX_SKEW_SECONDS}, got ${skew}`);
  const chain = toNodes(chainPems, false);
  const trusted = toNodes(trustedRootPems, true);
  const leaf = chain[0];
  if (!leaf) return { ok: false, code: 'E_CERT_EMPTY_CHAIN', reason: 'no certificate was presented' };
  const trustedFps = new Set(trusted.map((t) => t.info.fingerprintSha256));
  if (trustedFps.has(leaf.info.fingerprintSha256)) leaf.trusted = true;

  // 1. Build the path: prefer trusted certificates, then intermediates offered with the chain.
  const path: Node[] = [leaf];
  let cur = leaf;
  while (!cur.trusted) {
    if (path.length > MAX_DEPTH) {
      return {
        ok: false,
        code: 'E_CERT_PATH_LENGTH',
        reason: `no trusted issuer within ${MAX_DEPTH} certificates of ${label(leaf.info)}`,
        path: path.map((n) => n.info),
      };
    }
    const pool = [...trusted, ...chain.slice(1).filter((c) => !path.includes(c))];
    const named = pool.filter((cand) => cur.x.checkIssued(cand.x));
    const issuer = named.find((cand) => signedBy(cur, cand));
    if (!issuer) {
      const infos = path.map((n) => n.info);
      if (cur.info.selfIssued && signedBy(cur, cur)) {
        return {
          ok: false,
          code: 'E_CERT_UNKNOWN_ISSUER',
          reason: `${label(cur.info)} is a self-signed root that is not in the trusted bundle; add it to the bundle or use a certificate from a trusted CA`,
          path: infos,
        };
      }
      const aki = cur.info.authorityKeyId ? ` with key id ${cur.info.authorityKeyId}` : '';
      const why =
        named.length > 0
          ? `a certificate named "${cur.info.issuer}" is trusted but did not sign ${label(cur.info)} (a different CA with the same name?)`
          : `the issuer "${cur.info.issuer}"${aki} of ${label(cur.info)} is not in the trusted bundle and no intermediate for it was presented`;
      return {
        ok: false,
        code: 'E_CERT_UNKNOWN_ISSUER',
        reason: `${why}; the certificate was signed by a CA this bundle does not trust`,
        path: infos,
      };
    }
    path.push(issuer);
    cur = issuer;
  }
  const infos = path.map((n) => n.info);

  // 2. Validity windows, every certificate including the trust anchor (as OpenSSL does).
  for (const { info } of path) {
    if (now.getTime() < info.notBefore.getTime() - skew * 1000) {
      return {
        ok: false,
        code: 'E_CERT_NOT_YET_VALID',
        reason: `${label(info)} is not valid before ${info.notBefore.toISOString()} (now ${now.toISOString()}); check the clocks of the issuer and this host`,
        path: infos,
      };
    }
    if (now.getTime() > info.notAfter.getTime() + skew * 1000) {
      return {
        ok: false,
        code: 'E_CERT_EXPIRED',
        reason: `${label(info)} expired at ${info.notAfter.toISOString()} (now ${now.toISOString()}); issue or rotate a fresh one`,
        path: infos,
      };
    }
  }

  // 3. Every issuer must be a CA allowed to sign certificates, within its path length.
  for (let i = 1; i < path.length; i++) {
    const { info } = path[i] as Node;
    if (!info.isCa)
      return {
        ok: false,
        code: 'E_CERT_NOT_CA',
        reason: `${label(info)} signed ${label(infos[i - 1] as CertificateInfo)} but is not a CA certificate (basicConstraints CA:FALSE)`,
        path: infos,
      };
    if (info.keyUsage.length > 0 && !info.keyUsage.includes('keyCertSign')) {
      return {
        ok: false,
        code: 'E_CERT_NOT_CA',
        reason: `${label(info)} lacks keyUsage keyCertSign and may not sign certificates`,
        path: infos,
      };
    }
    const intermediatesBelow = i - 1;
    if (info.pathLength !== undefined && intermediatesBelow > info.pathLength) {
      return {
        ok: false,
        code: 'E_CERT_PATH_LENGTH',
        reason: `${label(info)} allows ${info.pathLength} intermediate CA(s) below it, the chain has ${intermediatesBelow}`,
        path: infos,
      };
    }
  }

  // 4. The leaf's purpose.
  if (opts.usage) {
    const want = opts.usage === 'server' ? 'serverAuth' : 'clientAuth';
    const l = leaf.info;
    if (l.extKeyUsage.length > 0 && !l.extKeyUsage.includes(want)) {
      return {
        ok: false,
        code: 'E_CERT_WRONG_USAGE',
        reason: `${label(l)} is presented as a ${opts.usage} certificate but its extendedKeyUsage is ${l.extKeyUsage.join(', ')} (needs ${want}); issue it with --usage ${opts.usage} or both`,
        path: infos,
      };
    }
    if (l.keyUsage.length > 0 && !l.keyUsage.includes('digitalSignature') && !l.keyUsage.includes('keyEncipherment')) {
      return {
        ok: false,
        code: 'E_CERT_WRONG_USAGE',
        reason: `${label(l)} has keyUsage ${l.keyUsage.join(', ')}, which does not allow TLS authentication`,
        path: infos,
      };
    }
  }

  // 5. Revocation: each checked certificate needs a current CRL from its issuer.
  if (opts.crlPems && opts.crlPems.length > 0) {
    const crls = opts.crlPems.flatMap((text) => splitPemBundle(text, 'X509 CRL'));
    const checked = opts.onlyLeafCrl ? 1 : path.length - 1;
    for (let i = 0; i < checked; i++) {
      const subject = path[i] as Node;
      const issuer = path[i + 1] as Node;
      const crlPem = crls.find((c) => crlIssuedBy(c, issuer.info.pem));
      if (!crlPem) {
        return {
          ok: false,
          code: 'E_CRL_MISSING',
          reason: `no CRL signed by ${label(issuer.info)} was configured, so ${label(subject.info)} cannot be checked for revocation`,
          path: infos,
        };
      }
      const crl = parseCrl(crlPem);
      if (crl.nextUpdate && now.getTime() > crl.nextUpdate.getTime() + skew * 1000) {
        return {
          ok: false,
          code: 'E_CRL_EXPIRED',
          reason: `the CRL from ${label(issuer.info)} expired at ${crl.nextUpdate.toISOString()}; publish a fresh one (meshgate ca revoke)`,
          path: infos,
        };
      }
      if (crl.revokedSerials.includes(subject.info.serialHex)) {
        return { ok: false, code: 'E_CERT_REVOKED', reason: `${label(subject.info)} was revoked by ${label(issuer.info)}`, path: infos };
      }
    }
  }
  return { ok: true, path: infos };
}
