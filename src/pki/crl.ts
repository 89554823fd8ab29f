// Certificate revocation lists (RFC 5280 §5): produced by `meshgate ca revoke`, carried as `ca.crl`/`crl`
// in a credential secret, and honoured by verifyChain when a CRL is configured (Envoy's
// CertificateValidationContext.crl).
import { createPublicKey, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509's tsyringe needs the Reflect metadata API before it loads
import * as x509 from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import { importSigningKey, loadPrivateKey } from './keys.js';
import { splitSigned } from './der.js';
import { derToPem, PemError, pemToDer } from './pem.js';
import { CertificateError } from './certificate.js';

export interface CreateCrlOptions {
  caCertPem: string;
  caKeyPem: string;
  /** Hex serials, any case, with or without colons. */
  revokedSerials: string[];
  ttlSeconds: number;
  now?: Date;
}

export interface CrlInfo {
  issuer: string;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** Uppercase hex, as CertificateInfo.serialHex. */
  revokedSerials: string[];
  authorityKeyId?: string;
  pem: string;
}

function normaliseSerial(hex: string): string {
  const h = hex
    .replace(/[^0-9a-fA-F]/g, '')
    .toUpperCase()
    .replace(/^(00)+(?=..)/, '');
  return h.length % 2 === 0 ? h : `0${h}`;
}

export async function createCrl(opts: CreateCrlOptions): Promise<string> {
  const ca = new x509.X509Certificate(opts.caCertPem);
  const bc = ca.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new CertificateError(`"${ca.subject}" is not a CA certificate and cannot sign a CRL`);
  const signer = await importSigningKey(opts.caKeyPem);
  const now = opts.now ?? new Date();
  const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.subjectName,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + opts.ttlSeconds * 1000),
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    extensions: ski ? [new x509.AuthorityKeyIdentifierExtension(ski)] : [],
    entries: [...new Set(opts.revokedSerials.map(normaliseSerial))].map((serialNumber) => ({ serialNumber, revocationDate: now })),
  });
  // RFC 7468 §5 names the label "X509 CRL" (what OpenSSL and Envoy read); the library writes "CRL".
  return derToPem(withoutEmptyEntryExtensions(crl.rawData, opts.caKeyPem, hashName(signer.algorithm.hash)), 'X509 CRL');
}

function hashName(hash: string | { name: string }): string {
  return (typeof hash === 'string' ? hash : hash.name).replace('-', '').toLowerCase();
}

/**
 * The generator gives every revoked entry a `crlEntryExtensions` SEQUENCE even when it has none; RFC 5280
 * §5.1 says SIZE (1..MAX), so an empty one must be absent. OpenSSL tolerates it, BoringSSL refuses the
 * whole CRL. The ASN.1 schema reads an empty sequence as absent, so encoding the parsed list again drops
 * them; when that changed the signed bytes, the list is signed again with the same key and hash.
 */
function withoutEmptyEntryExtensions(der: ArrayBuffer, caKeyPem: string, hash: string): ArrayBuffer {
  const list = AsnConvert.parse(der, CertificateList);
  const tbs = Buffer.from(AsnConvert.serialize(list.tbsCertList));
  if (tbs.equals(splitSigned(new Uint8Array(der)).toBeSigned)) return der;
  // ECDSA signatures in X.509 are DER (r, s), which is what node:crypto writes by default; RSA is PKCS#1 v1.5.
  list.signature = new Uint8Array(cryptoSign(hash, tbs, loadPrivateKey(caKeyPem))).buffer;
  return AsnConvert.serialize(list);
}

function loadCrl(pem: string, source?: string): { crl: x509.X509Crl; der: Buffer } {
  const der = pemToDer(pem, 'X509 CRL', source);
  try {
    return { crl: new x509.X509Crl(der), der };
  } catch (err) {
    throw new PemError(`the X509 CRL block is not a certificate revocation list: ${(err as Error).message}`, source);
  }
}

export function parseCrl(pem: string, source?: string): CrlInfo {
  const { crl } = loadCrl(pem, source);
  const aki = crl.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  const info: CrlInfo = {
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate,
    revokedSerials: crl.entries.map((e) => normaliseSerial(e.serialNumber)),
    pem: derToPem(crl.rawData, 'X509 CRL'),
  };
  if (crl.nextUpdate) info.nextUpdate = crl.nextUpdate;
  if (aki) info.authorityKeyId = aki.toUpperCase();
  return info;
}

/** Whether `crlPem` was issued (same name) and signed by the CA certificate `issuerCertPem`. Synchronous. */
export function crlIssuedBy(crlPem: string, issuerCertPem: string): boolean {
  const { crl, der } = loadCrl(crlPem);
  const issuer = new x509.X509Certificate(issuerCertPem);
  if (!Buffer.from(crl.issuerName.toArrayBuffer()).equals(Buffer.from(issuer.subjectName.toArrayBuffer()))) return false;
  const { toBeSigned, signature } = splitSigned(der);
  const hash = crl.signatureAlgorithm.hash?.name?.replace('-', '').toLowerCase() ?? 'sha256';
  try {
    return cryptoVerify(hash, toBeSigned, createPublicKey(issuer.publicKey.toString('pem')), signature);
  } catch (err) {
    // A key/algorithm mismatch (an RSA CA and an ECDSA-signed CRL) is a failed verification, not a crash.
    void err;
    return false;
  }
}
