// Key pairs for the mesh CA, workloads and the custom root CA toolkit. ECDSA P-256 is the default,
// as in Istio (and SPIFFE's recommendation); RSA 2048/3072 for peers that still need RSA.
import { generateKeyPair as nodeGenerateKeyPair, createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509's tsyringe needs the Reflect metadata API before it loads
import * as x509 from '@peculiar/x509';

// @peculiar/x509 signs and verifies through WebCrypto; Node's own implementation is the provider.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type WebCryptoKey = webcrypto.CryptoKey;
export type SigningAlgorithm = webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams;

function generate(type: 'ec' | 'rsa', options: object): Promise<{ privateKey: string; publicKey: string }> {
  return new Promise((resolve, reject) => {
    const cb = (err: Error | null, publicKey: string, privateKey: string): void => {
      if (err) reject(err);
      else resolve({ publicKey, privateKey });
    };
    (nodeGenerateKeyPair as unknown as (t: string, o: object, c: typeof cb) => void)(type, options, cb);
  });
}

export type KeyAlgorithm = 'ec-p256' | 'rsa-2048' | 'rsa-3072';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ec-p256', 'rsa-2048', 'rsa-3072'];

export class KeyError extends Error {
  readonly code = 'E_KEY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'KeyError';
  }
}

/** A fresh key pair: PKCS#8 private key and SPKI public key, both PEM. */
export async function generateKeyPair(alg: KeyAlgorithm = 'ec-p256'): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const encoding = { publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } } as const;
  switch (alg) {
    case 'ec-p256': {
      const { privateKey, publicKey } = await generate('ec', { namedCurve: 'prime256v1', ...encoding });
      return { privateKeyPem: privateKey, publicKeyPem: publicKey };
    }
    case 'rsa-2048':
    case 'rsa-3072': {
      const modulusLength = alg === 'rsa-2048' ? 2048 : 3072;
      const { privateKey, publicKey } = await generate('rsa', { modulusLength, publicExponent: 0x10001, ...encoding });
      return { privateKeyPem: privateKey, publicKeyPem: publicKey };
    }
    default:
      throw new KeyError(`unknown key algorithm "${String(alg)}"; use one of ${KEY_ALGORITHMS.join(', ')}`);
  }
}

export function parseKeyAlgorithm(text: string): KeyAlgorithm {
  if ((KEY_ALGORITHMS as readonly string[]).includes(text)) return text as KeyAlgorithm;
  throw new KeyError(`unknown key algorithm "${text}"; use one of ${KEY_ALGORITHMS.join(', ')}`);
}

/** Parses a private key in PKCS#8, SEC1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY") PEM. */
export function loadPrivateKey(pem: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new KeyError(`not a usable private key (PKCS#8, SEC1 or PKCS#1 PEM expected): ${(err as Error).message}`);
  }
}

/** The SPKI PEM of the public half of a private key. */
export function publicKeyPemOf(privateKeyPem: string): string {
  return createPublicKey(loadPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'pem' }).toString();
}

/** Re-encodes any supported private key PEM as PKCS#8, the form Envoy, Node's TLS and WebCrypto all take. */
export function toPkcs8Pem(privateKeyPem: string): string {
  return loadPrivateKey(privateKeyPem).export({ type: 'pkcs8', format: 'pem' }).toString();
}

export interface SigningKey {
  key: WebCryptoKey;
  /** The WebCrypto algorithm used to sign certificates, CSRs and CRLs with this key (SHA-256 family). */
  algorithm: SigningAlgorithm;
}

/** Imports a private key into WebCrypto for signing X.509 objects. */
export async function importSigningKey(privateKeyPem: string): Promise<SigningKey> {
  const ko = loadPrivateKey(privateKeyPem);
  const der = ko.export({ type: 'pkcs8', format: 'der' });
  const subtle = webcrypto.subtle;
  if (ko.asymmetricKeyType === 'ec') {
    const curve = ko.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
    if (!namedCurve) throw new KeyError(`unsupported EC curve ${curve ?? '(unknown)'}; use P-256 or P-384`);
    const hash = namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256';
    const key = await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve }, false, ['sign']);
    return { key, algorithm: { name: 'ECDSA', hash } };
  }
  if (ko.asymmetricKeyType === 'rsa') {
    const key = await subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    return { key, algorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } };
  }
  throw new KeyError(`unsupported key type ${ko.asymmetricKeyType ?? '(unknown)'}; use EC P-256 or RSA`);
}

/** Whether a private key is the other half of a public key (compares the SPKI encodings). */
export function keyMatchesPublicKey(privateKeyPem: string, publicKeyPem: string): boolean {
  const a = createPublicKey(loadPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' });
  const b = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return a.equals(b);
}

/** RSA keys shorter than this are refused in CSRs (NIST SP 800-57: 2048 bits is the floor after 2013). */
export const MIN_RSA_BITS = 2048;

/**
 * Why a CSR's public key is not accepted for a mesh certificate, or undefined when it is: RSA of at
 * least 2048 bits, or EC on P-256 or P-384 (the curves Envoy, Node's TLS and WebCrypto all verify).
 * Anything else (short RSA, P-521, secp256k1, Ed25519, DSA) is refused rather than signed.
 */
export function workloadKeyProblem(publicKeyPem: string): string | undefined {
  let key: KeyObject;
  try {
    key = createPublicKey(publicKeyPem);
  } catch (err) {
    return `the public key cannot be read: ${(err as Error).message}`;
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits >= MIN_RSA_BITS ? undefined : `RSA key of ${bits} bits; at least ${MIN_RSA_BITS} bits are required`;
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === 'prime256v1' || curve === 'secp384r1'
      ? undefined
      : `EC key on curve ${curve ?? '(unnamed)'}; only P-256 and P-384 are accepted`;
  }
  return `${type ?? 'unknown'} key; only RSA (2048 bits or more) and EC P-256/P-384 keys are accepted`;
}
