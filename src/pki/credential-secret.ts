// Reading a gateway's `credentialName` secret the way Istio does (pilot/pkg/credentials/kube):
// `cert`/`key` win over `tls.crt`/`tls.key`; the CA comes from `cacert` before `ca.crt`, taken from the
// separate `<name>-cacert` secret when it exists; the CRL from `crl` before `ca.crl`.
import { X509Certificate } from 'node:crypto';
import { KeyError, loadPrivateKey } from './keys.js';
import { parsePemBlocks, splitPemBundle, PemError } from './pem.js';

/**
 * The part of a Kubernetes Secret this module reads; src/config's `Secret` satisfies it (declared here
 * because pki may not import config).
 */
export interface CredentialSecret {
  metadata: { name: string; namespace: string };
  type?: string;
  /** Decoded values (`data` and `stringData` merged). */
  data: Record<string, Buffer>;
}

export interface Credential {
  certChainPem?: string;
  privateKeyPem?: string;
  caPem?: string;
  crlPem?: string;
}

export class CredentialError extends Error {
  readonly code = 'E_CREDENTIAL_INVALID';
  constructor(
    readonly secret: string,
    readonly key: string | undefined,
    message: string,
  ) {
    super(`secret ${secret}: ${message}`);
    this.name = 'CredentialError';
  }
}

const PAIRS = [
  ['cert', 'key'],
  ['tls.crt', 'tls.key'],
] as const;

function has(data: Record<string, Buffer>, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(data, k);
}

function value(data: Record<string, Buffer>, k: string): string | undefined {
  const v = data[k];
  return v && v.length > 0 ? v.toString('utf8') : undefined;
}

function nameOf(s: CredentialSecret): string {
  return `${s.metadata.namespace}/${s.metadata.name}`;
}

/**
 * Parsed with Node's own (OpenSSL's) parser — what the proxy's TLS stack reads them with — in well under a
 * millisecond: a rotated credential is read on the path from its Secret changing to the gateway's next handshake.
 */
function checkCerts(secret: string, key: string, pem: string): X509Certificate[] {
  try {
    return splitPemBundle(pem, 'CERTIFICATE', `${secret}[${key}]`).map((c) => new X509Certificate(c));
  } catch (err) {
    throw new CredentialError(secret, key, `key "${key}" does not hold PEM certificates: ${(err as Error).message}`);
  }
}

function checkCrl(secret: string, key: string, pem: string): void {
  try {
    splitPemBundle(pem, 'X509 CRL', `${secret}[${key}]`);
  } catch (err) {
    throw new CredentialError(secret, key, `key "${key}" does not hold a PEM CRL: ${(err as Error).message}`);
  }
}

/**
 * The credential in `secret` (and its CA from `cacertSecret`, the `<name>-cacert` secret, when given).
 * A CA-only secret yields only `caPem`; a certificate without its key, or a key without its
 * certificate, is a CredentialError naming the secret and the missing key.
 */
export function readCredentialSecret(secret: CredentialSecret, cacertSecret?: CredentialSecret): Credential {
  const name = nameOf(secret);
  const data = secret.data ?? {};
  const out: Credential = {};

  const pair = PAIRS.find(([c, k]) => value(data, c) !== undefined && value(data, k) !== undefined);
  if (pair) {
    const [certKey, keyKey] = pair;
    out.certChainPem = value(data, certKey) as string;
    out.privateKeyPem = value(data, keyKey) as string;
    const chain = checkCerts(name, certKey, out.certChainPem);
    const blocks = (() => {
      try {
        return parsePemBlocks(out.privateKeyPem, `${name}[${keyKey}]`);
      } catch (err) {
        throw new CredentialError(name, keyKey, `key "${keyKey}" is not a PEM private key: ${(err as PemError).message}`);
      }
    })();
    if (blocks.length !== 1 || !/PRIVATE KEY$/.test(blocks[0]?.label ?? '')) {
      throw new CredentialError(
        name,
        keyKey,
        `key "${keyKey}" must hold exactly one PEM private key, found ${blocks.map((b) => b.label).join(', ') || 'nothing'}`,
      );
    }
    let matches: boolean;
    try {
      // OpenSSL's X509_check_private_key: half the time of exporting and comparing both public keys.
      matches = (chain[0] as X509Certificate).checkPrivateKey(loadPrivateKey(out.privateKeyPem));
    } catch (err) {
      throw new CredentialError(name, keyKey, `key "${keyKey}" cannot be read: ${(err as KeyError).message}`);
    }
    if (!matches)
      throw new CredentialError(name, keyKey, `the private key in "${keyKey}" does not belong to the certificate in "${certKey}"`);
    const crlKey = certKey === 'cert' ? 'crl' : 'ca.crl';
    const crl = value(data, crlKey);
    if (crl !== undefined) {
      checkCrl(name, crlKey, crl);
      out.crlPem = crl;
    }
  } else {
    // Istio's wording: name the key that is there and the one that is missing.
    for (const [c, k] of PAIRS) {
      if (value(data, c) !== undefined && value(data, k) === undefined) {
        throw new CredentialError(name, k, `has a certificate in "${c}" but no private key in "${k}"`);
      }
      if (value(data, k) !== undefined && value(data, c) === undefined) {
        throw new CredentialError(name, c, `has a private key in "${k}" but no certificate in "${c}"`);
      }
      if (has(data, c) && has(data, k)) throw new CredentialError(name, c, `found keys "${c}" and "${k}", but they were empty`);
    }
  }

  // The CA: the -cacert secret when there is one, else this secret (Istio's GetCaCert fallback).
  const caSource = cacertSecret ?? secret;
  const caName = nameOf(caSource);
  const caData = caSource.data ?? {};
  for (const [caKey, crlKey] of [
    ['cacert', 'crl'],
    ['ca.crt', 'ca.crl'],
  ] as const) {
    const ca = value(caData, caKey);
    if (ca === undefined) {
      if (has(caData, caKey) && !['cacert', 'ca.crt'].some((k) => value(caData, k) !== undefined)) {
        throw new CredentialError(caName, caKey, `found key "${caKey}", but it was empty`);
      }
      continue;
    }
    checkCerts(caName, caKey, ca);
    out.caPem = ca;
    const crl = value(caData, crlKey);
    if (crl !== undefined && out.crlPem === undefined) {
      checkCrl(caName, crlKey, crl);
      out.crlPem = crl;
    }
    break;
  }
  if (cacertSecret && out.caPem === undefined) {
    throw new CredentialError(
      caName,
      'cacert',
      `has neither "cacert" nor "ca.crt"; found: ${Object.keys(caData).sort().join(', ') || 'nothing'}`,
    );
  }
  if (out.certChainPem === undefined && out.caPem === undefined) {
    const found = Object.keys(data).sort().join(', ') || 'nothing';
    throw new CredentialError(
      name,
      undefined,
      `has none of the expected keys ("cert" and "key") or ("tls.crt" and "tls.key") or "cacert" or "ca.crt"; found: ${found}`,
    );
  }
  return out;
}
