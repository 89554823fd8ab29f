// The file-based toolkit for an organisation's own root CA (the seed's root CA R between the gateways),
// behind `meshgate ca`. A CA directory holds root-cert.pem, root-key.pem (0600), revoked.txt and
// crl.pem; a credential directory holds cert.pem (leaf first), key.pem (0600) and ca.pem (the bundle
// to trust). Every file is written 0600 in a 0700 directory: they are credentials, not documentation.
import { readFile, access } from 'node:fs/promises';
import path from 'node:path';
import { writePrivateFile } from './private-file.js';
import { generateKeyPair, keyMatchesPublicKey, toPkcs8Pem, type KeyAlgorithm } from './keys.js';
import { issueCertificate, parseCertificate, type CertificateInfo, type CertificateUsage } from './certificate.js';
import { createCrl } from './crl.js';
import { splitPemBundle } from './pem.js';

export const ROOT_CERT_FILE = 'root-cert.pem';
export const ROOT_KEY_FILE = 'root-key.pem';
export const REVOKED_FILE = 'revoked.txt';
export const CRL_FILE = 'crl.pem';
export const LEAF_CERT_FILE = 'cert.pem';
export const LEAF_KEY_FILE = 'key.pem';
export const LEAF_CA_FILE = 'ca.pem';

export class CustomCaError extends Error {
  readonly code = 'E_CA_FILES';
  constructor(message: string) {
    super(message);
    this.name = 'CustomCaError';
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch (err) {
    void err; // absence is the answer being asked for
    return false;
  }
}

export { writePrivateFile };

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CustomCaError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

export interface RootCa {
  certPem: string;
  privateKeyPem: string;
  info: CertificateInfo;
}

export async function createRootCa(opts: {
  dir: string;
  name: string;
  org?: string;
  ttlSeconds: number;
  keyAlgorithm?: KeyAlgorithm;
  force?: boolean;
  now?: Date;
}): Promise<CertificateInfo> {
  const keyFile = path.join(opts.dir, ROOT_KEY_FILE);
  if (!opts.force && (await exists(keyFile)))
    throw new CustomCaError(`${keyFile} exists; refusing to replace a CA key (use --force to overwrite)`);
  const keys = await generateKeyPair(opts.keyAlgorithm ?? 'ec-p256');
  const subject = `CN=${opts.name}${opts.org ? `, O=${opts.org}` : ''}`;
  const certPem = await issueCertificate({
    subject,
    publicKeyPem: keys.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: keys.privateKeyPem,
    isCa: true,
    usage: 'ca',
    ttlSeconds: opts.ttlSeconds,
    ...(opts.now ? { now: opts.now } : {}),
  });
  await writePrivateFile(keyFile, keys.privateKeyPem);
  await writePrivateFile(path.join(opts.dir, ROOT_CERT_FILE), certPem);
  return parseCertificate(certPem);
}

export async function loadRootCa(dir: string): Promise<RootCa> {
  const certFile = path.join(dir, ROOT_CERT_FILE);
  const keyFile = path.join(dir, ROOT_KEY_FILE);
  const certPem = splitPemBundle(await readText(certFile), 'CERTIFICATE', certFile)[0] as string;
  const privateKeyPem = toPkcs8Pem(await readText(keyFile));
  const info = parseCertificate(certPem, certFile);
  if (!info.isCa) throw new CustomCaError(`${certFile} is not a CA certificate`);
  if (!keyMatchesPublicKey(privateKeyPem, info.publicKeyPem)) throw new CustomCaError(`${keyFile} is not the key of ${certFile}`);
  return { certPem, privateKeyPem, info };
}

export interface IssueLeafOptions {
  caDir: string;
  outDir: string;
  name?: string;
  dns?: string[];
  uris?: string[];
  ips?: string[];
  usage: Exclude<CertificateUsage, 'ca'>;
  ttlSeconds: number;
  keyAlgorithm?: KeyAlgorithm;
  /** More roots for ca.pem (the overlap bundle during a root rotation). */
  extraTrustPems?: string[];
  now?: Date;
}

export async function issueLeaf(opts: IssueLeafOptions): Promise<{ leaf: CertificateInfo; bundle: CertificateInfo[] }> {
  const ca = await loadRootCa(opts.caDir);
  const sans = [...(opts.dns ?? []), ...(opts.uris ?? []), ...(opts.ips ?? [])];
  if (sans.length === 0 && !opts.name) throw new CustomCaError('a certificate needs at least one of --dns, --uri, --ip or --name');
  const keys = await generateKeyPair(opts.keyAlgorithm ?? 'ec-p256');
  const untilRootExpiry = Math.floor((ca.info.notAfter.getTime() - (opts.now ?? new Date()).getTime()) / 1000);
  if (opts.ttlSeconds > untilRootExpiry)
    throw new CustomCaError(`--ttl ${opts.ttlSeconds}s outlives the root (${ca.info.notAfter.toISOString()}); rotate the root first`);
  const certPem = await issueCertificate({
    subject: `CN=${opts.name ?? (sans[0] as string)}`,
    publicKeyPem: keys.publicKeyPem,
    issuer: { certPem: ca.certPem, privateKeyPem: ca.privateKeyPem },
    usage: opts.usage,
    dns: opts.dns ?? [],
    uris: opts.uris ?? [],
    ips: opts.ips ?? [],
    ttlSeconds: opts.ttlSeconds,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const bundle: string[] = [];
  const seen = new Set<string>();
  for (const text of [...(opts.extraTrustPems ?? []), ca.certPem]) {
    for (const pem of splitPemBundle(text)) {
      const fp = parseCertificate(pem).fingerprintSha256;
      if (!seen.has(fp)) {
        seen.add(fp);
        bundle.push(pem);
      }
    }
  }
  await writePrivateFile(path.join(opts.outDir, LEAF_KEY_FILE), keys.privateKeyPem);
  await writePrivateFile(path.join(opts.outDir, LEAF_CERT_FILE), certPem);
  await writePrivateFile(path.join(opts.outDir, LEAF_CA_FILE), bundle.join(''));
  return { leaf: parseCertificate(certPem), bundle: bundle.map((b) => parseCertificate(b)) };
}

/** The usage a certificate was issued for, read back from its extendedKeyUsage. */
export function usageOf(info: CertificateInfo): Exclude<CertificateUsage, 'ca'> {
  const server = info.extKeyUsage.includes('serverAuth');
  const client = info.extKeyUsage.includes('clientAuth');
  if (server && !client) return 'server';
  if (client && !server) return 'client';
  return 'both';
}

/**
 * Issues a fresh key and leaf with the same names and usage as `fromDir`'s certificate. With
 * `newRootDir` the leaf comes from that (new, created if missing) root and ca.pem trusts old and new.
 */
export async function rotateLeaf(opts: {
  caDir: string;
  fromDir: string;
  outDir: string;
  ttlSeconds?: number;
  newRootDir?: string;
  newRootName?: string;
  newRootTtlSeconds?: number;
  now?: Date;
}): Promise<{ leaf: CertificateInfo; bundle: CertificateInfo[]; createdRoot?: CertificateInfo }> {
  const oldFile = path.join(opts.fromDir, LEAF_CERT_FILE);
  const old = parseCertificate(splitPemBundle(await readText(oldFile), 'CERTIFICATE', oldFile)[0] as string);
  const oldRoot = await loadRootCa(opts.caDir);
  const ttlSeconds = opts.ttlSeconds ?? Math.round((old.notAfter.getTime() - old.notBefore.getTime()) / 1000);
  const cn = /(?:^|,\s*)CN=([^,]+)/.exec(old.subject)?.[1];
  let caDir = opts.caDir;
  let createdRoot: CertificateInfo | undefined;
  const extraTrustPems: string[] = [];
  if (opts.newRootDir) {
    if (!(await exists(path.join(opts.newRootDir, ROOT_KEY_FILE)))) {
      const name = opts.newRootName ?? `${/(?:^|,\s*)CN=([^,]+)/.exec(oldRoot.info.subject)?.[1] ?? 'root'} (next)`;
      const org = /(?:^|,\s*)O=([^,]+)/.exec(oldRoot.info.subject)?.[1];
      createdRoot = await createRootCa({
        dir: opts.newRootDir,
        name,
        ...(org ? { org } : {}),
        ttlSeconds: opts.newRootTtlSeconds ?? Math.round((oldRoot.info.notAfter.getTime() - oldRoot.info.notBefore.getTime()) / 1000),
        ...(opts.now ? { now: opts.now } : {}),
      });
    }
    extraTrustPems.push(oldRoot.certPem);
    caDir = opts.newRootDir;
  }
  const res = await issueLeaf({
    caDir,
    outDir: opts.outDir,
    ...(cn ? { name: cn } : {}),
    dns: old.dns,
    uris: old.uris,
    ips: old.ips,
    usage: usageOf(old),
    ttlSeconds,
    extraTrustPems,
    ...(opts.now ? { now: opts.now } : {}),
  });
  return createdRoot ? { ...res, createdRoot } : res;
}

/** Adds serials to the CA's revocation list and writes a fresh CRL (default CA_DIR/crl.pem). */
export async function revokeCertificates(opts: {
  caDir: string;
  serials: string[];
  ttlSeconds: number;
  out?: string;
  now?: Date;
}): Promise<{ crlPath: string; revokedSerials: string[] }> {
  const ca = await loadRootCa(opts.caDir);
  const listFile = path.join(opts.caDir, REVOKED_FILE);
  const previous = (await exists(listFile))
    ? (await readText(listFile))
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
    : [];
  const norm = (s: string): string =>
    s
      .replace(/[^0-9a-fA-F]/g, '')
      .toUpperCase()
      .replace(/^(00)+(?=..)/, '');
  const serials = [...new Set([...previous, ...opts.serials].map(norm))];
  for (const s of serials) if (s.length === 0) throw new CustomCaError('an empty serial number cannot be revoked');
  const crl = await createCrl({
    caCertPem: ca.certPem,
    caKeyPem: ca.privateKeyPem,
    revokedSerials: serials,
    ttlSeconds: opts.ttlSeconds,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const crlPath = opts.out ?? path.join(opts.caDir, CRL_FILE);
  await writePrivateFile(listFile, serials.join('\n') + '\n');
  await writePrivateFile(crlPath, crl);
  return { crlPath, revokedSerials: serials };
}
