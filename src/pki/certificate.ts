// Issuing and reading X.509 certificates and PKCS#10 requests: the extensions a TLS peer checks
// (basicConstraints, keyUsage, extKeyUsage, subjectAltName) and the key identifiers that let a
// verifier find the issuer (SKI/AKI, RFC 5280 §4.2.1.1-2).
import { createHash, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import 'reflect-metadata'; // @peculiar/x509's tsyringe needs the Reflect metadata API before it loads
import * as x509 from '@peculiar/x509';
import { importSigningKey, keyMatchesPublicKey, loadPrivateKey, publicKeyPemOf } from './keys.js';
import { PemError, pemToDer } from './pem.js';

export type CertificateUsage = 'server' | 'client' | 'both' | 'ca';

export class CertificateError extends Error {
  readonly code = 'E_CERT_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

export interface IssueCertificateOptions {
  /** Distinguished name, `CN=...,O=...`; may be empty for SPIFFE workload certificates. */
  subject: string;
  publicKeyPem: string;
  issuer: { certPem: string; privateKeyPem: string } | 'self';
  /** The private key matching `publicKeyPem`, required when `issuer` is 'self'. */
  selfPrivateKeyPem?: string;
  isCa?: boolean;
  pathLength?: number;
  usage?: CertificateUsage;
  dns?: string[];
  uris?: string[];
  ips?: string[];
  ttlSeconds: number;
  /** Start of validity; defaults to the current time. */
  now?: Date;
  /** Hexadecimal serial; a random positive 128-bit serial by default. */
  serial?: string;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  /** Uppercase hex of the serial number's value, as `openssl x509 -serial` prints it. */
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  dns: string[];
  uris: string[];
  ips: string[];
  /** `AB:CD:...`, SHA-256 over the DER, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprintSha256: string;
  isCa: boolean;
  pathLength?: number;
  keyUsage: string[];
  extKeyUsage: string[];
  subjectKeyId?: string;
  authorityKeyId?: string;
  /** e.g. `EC P-256`, `RSA 2048`. */
  publicKeyAlgorithm: string;
  publicKeyPem: string;
  selfIssued: boolean;
  pem: string;
}

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
};
const KEY_USAGE_NAMES: [x509.KeyUsageFlags, string][] = [
  [x509.KeyUsageFlags.digitalSignature, 'digitalSignature'],
  [x509.KeyUsageFlags.nonRepudiation, 'nonRepudiation'],
  [x509.KeyUsageFlags.keyEncipherment, 'keyEncipherment'],
  [x509.KeyUsageFlags.dataEncipherment, 'dataEncipherment'],
  [x509.KeyUsageFlags.keyAgreement, 'keyAgreement'],
  [x509.KeyUsageFlags.keyCertSign, 'keyCertSign'],
  [x509.KeyUsageFlags.cRLSign, 'cRLSign'],
  [x509.KeyUsageFlags.encipherOnly, 'encipherOnly'],
  [x509.KeyUsageFlags.decipherOnly, 'decipherOnly'],
];

/** A random positive serial: 16 bytes, first byte 0x01-0x7f so the DER integer needs no sign byte. */
export function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] as number) % 0x7f) + 1;
  return b.toString('hex').toUpperCase();
}

function normaliseSerial(hex: string): string {
  const h = hex
    .replace(/[^0-9a-fA-F]/g, '')
    .toUpperCase()
    .replace(/^(00)+(?=..)/, '');
  return h.length % 2 === 0 ? h : `0${h}`;
}

function validateSans(dns: string[], uris: string[], ips: string[]): void {
  for (const d of dns) {
    if (!/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(d)) {
      throw new CertificateError(`"${d}" is not a valid DNS name for a subjectAltName`);
    }
  }
  for (const u of uris) {
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(u)) throw new CertificateError(`"${u}" is not a valid URI for a subjectAltName`);
  }
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new CertificateError(`"${ip}" is not an IP address`);
  }
}

/** Issues a certificate for `publicKeyPem`, signed by `issuer` (or self-signed), returned as PEM. */
export async function issueCertificate(opts: IssueCertificateOptions): Promise<string> {
  const isCa = opts.isCa ?? opts.usage === 'ca';
  const usage: CertificateUsage = opts.usage ?? (isCa ? 'ca' : 'both');
  if (!Number.isFinite(opts.ttlSeconds) || opts.ttlSeconds <= 0)
    throw new CertificateError(`ttlSeconds must be positive, got ${opts.ttlSeconds}`);
  const dns = opts.dns ?? [];
  const uris = opts.uris ?? [];
  const ips = opts.ips ?? [];
  validateSans(dns, uris, ips);

  let signerPem: string;
  let issuerName: string | x509.Name;
  let issuerPublicKey: x509.PublicKey;
  let issuerSki: string | undefined;
  if (opts.issuer === 'self') {
    if (!opts.selfPrivateKeyPem) throw new CertificateError('a self-signed certificate needs selfPrivateKeyPem');
    if (!keyMatchesPublicKey(opts.selfPrivateKeyPem, opts.publicKeyPem))
      throw new CertificateError('selfPrivateKeyPem does not match publicKeyPem');
    signerPem = opts.selfPrivateKeyPem;
    issuerName = opts.subject;
    issuerPublicKey = new x509.PublicKey(opts.publicKeyPem);
  } else {
    const issuerCert = new x509.X509Certificate(opts.issuer.certPem);
    const bc = issuerCert.getExtension(x509.BasicConstraintsExtension);
    if (!bc?.ca) throw new CertificateError(`the issuer "${issuerCert.subject}" is not a CA certificate (basicConstraints CA:FALSE)`);
    if (!keyMatchesPublicKey(opts.issuer.privateKeyPem, issuerCert.publicKey.toString('pem'))) {
      throw new CertificateError(`the issuer key does not belong to the issuer certificate "${issuerCert.subject}"`);
    }
    signerPem = opts.issuer.privateKeyPem;
    issuerName = issuerCert.subjectName;
    issuerPublicKey = issuerCert.publicKey;
    issuerSki = issuerCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  }
  const signer = await importSigningKey(signerPem);
  const publicKey = new x509.PublicKey(opts.publicKeyPem);
  const isRsa = createPublicKey(opts.publicKeyPem).asymmetricKeyType === 'rsa';

  const extensions: x509.Extension[] = [];
  extensions.push(new x509.BasicConstraintsExtension(isCa, isCa ? opts.pathLength : undefined, true));
  let ku: number;
  if (isCa) ku = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature;
  else ku = x509.KeyUsageFlags.digitalSignature | (isRsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  extensions.push(new x509.KeyUsagesExtension(ku, true));
  const eku: string[] = [];
  if (usage === 'server' || usage === 'both') eku.push(x509.ExtendedKeyUsage.serverAuth);
  if (usage === 'client' || usage === 'both') eku.push(x509.ExtendedKeyUsage.clientAuth);
  if (eku.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(eku, false));
  const names: x509.JsonGeneralName[] = [
    ...dns.map((value) => ({ type: 'dns' as const, value })),
    ...uris.map((value) => ({ type: 'url' as const, value })),
    ...ips.map((value) => ({ type: 'ip' as const, value })),
  ];
  // RFC 5280 §4.2.1.6: with an empty subject the SAN extension carries the identity and is critical.
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, opts.subject.trim() === ''));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(publicKey));
  if (issuerSki) extensions.push(new x509.AuthorityKeyIdentifierExtension(issuerSki));
  else extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerPublicKey));

  const notBefore = opts.now ?? new Date();
  const notAfter = new Date(notBefore.getTime() + opts.ttlSeconds * 1000);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: normaliseSerial(opts.serial ?? randomSerialHex()),
    subject: opts.subject,
    issuer: issuerName,
    notBefore,
    notAfter,
    publicKey,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    extensions,
  });
  return cert.toString('pem') + '\n';
}

function fingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

export function describePublicKey(publicKeyPem: string): string {
  const k = createPublicKey(publicKeyPem);
  if (k.asymmetricKeyType === 'ec') {
    const c = k.asymmetricKeyDetails?.namedCurve;
    return `EC ${c === 'prime256v1' ? 'P-256' : c === 'secp384r1' ? 'P-384' : (c ?? '?')}`;
  }
  if (k.asymmetricKeyType === 'rsa') return `RSA ${k.asymmetricKeyDetails?.modulusLength ?? '?'}`;
  return k.asymmetricKeyType ?? 'unknown';
}

function sanNames(ext: x509.SubjectAlternativeNameExtension | null): { dns: string[]; uris: string[]; ips: string[] } {
  const out = { dns: [] as string[], uris: [] as string[], ips: [] as string[] };
  for (const n of ext?.names.items ?? []) {
    if (n.type === 'dns') out.dns.push(n.value);
    else if (n.type === 'url') out.uris.push(n.value);
    else if (n.type === 'ip') out.ips.push(n.value);
  }
  return out;
}

/** Reads one PEM certificate; throws PemError/CertificateError on anything else. */
export function parseCertificate(pem: string, source?: string): CertificateInfo {
  const der = pemToDer(pem, 'CERTIFICATE', source);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch (err) {
    throw new PemError(`the CERTIFICATE block is not an X.509 certificate: ${(err as Error).message}`, source);
  }
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const kuExt = cert.getExtension(x509.KeyUsagesExtension);
  const ekuExt = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  const keyUsage = kuExt ? KEY_USAGE_NAMES.filter(([flag]) => (kuExt.usages & flag) !== 0).map(([, n]) => n) : [];
  const extKeyUsage = Array.from(ekuExt?.usages ?? [], (u) => EKU_NAMES[String(u)] ?? String(u));
  const publicKeyPem = cert.publicKey.toString('pem') + '\n';
  const info: CertificateInfo = {
    subject: cert.subject,
    issuer: cert.issuer,
    serialHex: normaliseSerial(cert.serialNumber),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    ...sanNames(cert.getExtension(x509.SubjectAlternativeNameExtension)),
    fingerprintSha256: fingerprint(der),
    isCa: bc?.ca ?? false,
    keyUsage,
    extKeyUsage,
    publicKeyAlgorithm: describePublicKey(publicKeyPem),
    publicKeyPem,
    selfIssued: Buffer.from(cert.subjectName.toArrayBuffer()).equals(Buffer.from(cert.issuerName.toArrayBuffer())),
    pem: cert.toString('pem') + '\n',
  };
  if (bc?.pathLength !== undefined) info.pathLength = bc.pathLength;
  if (ski) info.subjectKeyId = ski.toUpperCase();
  if (aki) info.authorityKeyId = aki.toUpperCase();
  return info;
}

export interface CreateCsrOptions {
  privateKeyPem: string;
  subject?: string;
  dns?: string[];
  uris?: string[];
  ips?: string[];
}

/** A PKCS#10 request signed by `privateKeyPem` (proof of possession), PEM. */
export async function createCsr(opts: CreateCsrOptions): Promise<string> {
  const dns = opts.dns ?? [];
  const uris = opts.uris ?? [];
  const ips = opts.ips ?? [];
  validateSans(dns, uris, ips);
  const signer = await importSigningKey(opts.privateKeyPem);
  const spki = createPublicKey(loadPrivateKey(opts.privateKeyPem)).export({ type: 'spki', format: 'der' });
  const importAlg =
    signer.algorithm.name === 'ECDSA'
      ? { name: 'ECDSA', namedCurve: (signer.key.algorithm as webcrypto.EcKeyAlgorithm).namedCurve }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const publicKey = await webcrypto.subtle.importKey('spki', spki, importAlg, true, ['verify']);
  const names: x509.JsonGeneralName[] = [
    ...dns.map((value) => ({ type: 'dns' as const, value })),
    ...uris.map((value) => ({ type: 'url' as const, value })),
    ...ips.map((value) => ({ type: 'ip' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: opts.subject ?? '',
    keys: { privateKey: signer.key, publicKey },
    signingAlgorithm: signer.algorithm,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return csr.toString('pem') + '\n';
}

export interface CsrInfo {
  subject: string;
  publicKeyPem: string;
  dns: string[];
  uris: string[];
  ips: string[];
}

function loadCsr(pem: string, source?: string): x509.Pkcs10CertificateRequest {
  const der = pemToDer(pem, 'CERTIFICATE REQUEST', source);
  try {
    return new x509.Pkcs10CertificateRequest(der);
  } catch (err) {
    throw new PemError(`the CERTIFICATE REQUEST block is not a PKCS#10 request: ${(err as Error).message}`, source);
  }
}

export function parseCsr(pem: string, source?: string): CsrInfo {
  const csr = loadCsr(pem, source);
  return {
    subject: csr.subject,
    publicKeyPem: csr.publicKey.toString('pem') + '\n',
    ...sanNames(
      csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension) ?? null,
    ),
  };
}

/** Whether the request is signed by the key it carries (proof of possession). */
export async function verifyCsrSignature(pem: string): Promise<boolean> {
  return loadCsr(pem).verify();
}

export { publicKeyPemOf };
