// The mesh CA that runs inside the control plane (istiod's CA): a self-signed root per cluster by
// default, or an intermediate plugged in through Istio's `cacerts` layout. It signs workload CSRs with
// exactly the caller's SPIFFE identity and nothing the CSR asked for; authentication of the caller is
// the CA service's job (ca-service.ts).
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair, keyMatchesPublicKey, toPkcs8Pem, workloadKeyProblem, type KeyAlgorithm } from './keys.js';
import { issueCertificate, parseCertificate, parseCsr, verifyCsrSignature, type CertificateInfo } from './certificate.js';
import { splitPemBundle } from './pem.js';
import { writePrivateFile } from './private-file.js';
import { verifyChain } from './verify.js';

export const DEFAULT_WORKLOAD_TTL_SECONDS = 24 * 3600;
/**
 * Istio's MAX_WORKLOAD_CERT_TTL defaults to 90 days; meshgate's to 24 h, the same as the default
 * lifetime: a stolen workload key is then good for a day at most, and renewal at half-life (12 h)
 * leaves ample margin. `meshgate control-plane --max-workload-cert-ttl` changes it.
 */
export const DEFAULT_MAX_WORKLOAD_TTL_SECONDS = 24 * 3600;
const DEFAULT_ROOT_TTL_SECONDS = 10 * 365 * 24 * 3600; // Istio's self-signed root lifetime

export class MeshCAError extends Error {
  constructor(
    readonly code:
      'E_CA_INVALID' | 'E_CSR_INVALID' | 'E_CSR_KEY_REJECTED' | 'E_CA_TTL_TOO_LONG' | 'E_CA_CREDENTIAL_EXPIRED' | 'E_CA_IDENTITY_INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'MeshCAError';
  }
}

export interface MeshCAOptions {
  /** Upper bound for a workload certificate's lifetime; a longer request is refused (E_CA_TTL_TOO_LONG), as Istio's CA does. */
  maxTtlSeconds?: number;
  /** Lifetime when the caller asks for none (0 or negative). */
  defaultTtlSeconds?: number;
  now?: () => Date;
}

export interface WorkloadIdentity {
  namespace: string;
  serviceAccount: string;
}

export interface SignOptions {
  /**
   * The certificate never outlives this instant: the expiry of the credential that authenticated the
   * request (the token's `exp`), so a certificate cannot extend a credential that has been cut short.
   */
  notAfterLimit?: Date;
}

/** Kubernetes names: what may appear in a namespace or service account name (RFC 1123 subdomain). */
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function spiffeId(trustDomain: string, identity: WorkloadIdentity): string {
  return `spiffe://${trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
}

export class MeshCA {
  private readonly now: () => Date;
  private readonly maxTtlSeconds: number;
  private readonly defaultTtlSeconds: number;
  private roots: string[];

  private constructor(
    readonly trustDomain: string,
    private readonly signingCertPem: string,
    private readonly signingKeyPem: string,
    /** Intermediates between the signing certificate and the root, bottom up. */
    private readonly intermediatePems: string[],
    roots: string[],
    opts: MeshCAOptions,
  ) {
    this.roots = roots;
    this.now = opts.now ?? (() => new Date());
    this.maxTtlSeconds = opts.maxTtlSeconds ?? DEFAULT_MAX_WORKLOAD_TTL_SECONDS;
    this.defaultTtlSeconds = Math.min(opts.defaultTtlSeconds ?? DEFAULT_WORKLOAD_TTL_SECONDS, this.maxTtlSeconds);
  }

  /** A fresh self-signed root for one cluster (Istio's default when no `cacerts` secret exists). */
  static async createSelfSigned(
    opts: {
      trustDomain: string;
      clusterId?: string;
      now?: () => Date;
      keyAlgorithm?: KeyAlgorithm;
      rootTtlSeconds?: number;
    } & MeshCAOptions,
  ): Promise<MeshCA> {
    validateTrustDomain(opts.trustDomain);
    const now = opts.now ?? (() => new Date());
    const keys = await generateKeyPair(opts.keyAlgorithm ?? 'ec-p256');
    const cn = `meshgate root CA${opts.clusterId ? ` ${opts.clusterId}` : ''}`;
    const root = await issueCertificate({
      subject: `CN=${cn}, O=${opts.trustDomain}`,
      publicKeyPem: keys.publicKeyPem,
      issuer: 'self',
      selfPrivateKeyPem: keys.privateKeyPem,
      isCa: true,
      usage: 'ca',
      ttlSeconds: opts.rootTtlSeconds ?? DEFAULT_ROOT_TTL_SECONDS,
      now: now(),
    });
    return new MeshCA(opts.trustDomain, root, keys.privateKeyPem, [], [root], { ...opts, now });
  }

  /**
   * Loads a plugged-in CA in Istio's `cacerts` layout: `ca-cert.pem` (the signing certificate),
   * `ca-key.pem`, `root-cert.pem` (one or more roots) and `cert-chain.pem` (ca-cert up to the root;
   * optional when ca-cert is signed by the root directly).
   */
  static async loadCacerts(dir: string, trustDomain: string, opts: MeshCAOptions = {}): Promise<MeshCA> {
    validateTrustDomain(trustDomain);
    const read = async (name: string, required: boolean): Promise<string | undefined> => {
      try {
        return await readFile(path.join(dir, name), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
        throw new MeshCAError('E_CA_INVALID', `cannot read ${path.join(dir, name)}: ${(err as Error).message}`);
      }
    };
    const caCertText = (await read('ca-cert.pem', true)) as string;
    const caKeyText = (await read('ca-key.pem', true)) as string;
    const rootText = (await read('root-cert.pem', true)) as string;
    const chainText = await read('cert-chain.pem', false);
    const caCerts = splitPemBundle(caCertText, 'CERTIFICATE', path.join(dir, 'ca-cert.pem'));
    const caCert = caCerts[0] as string;
    const roots = splitPemBundle(rootText, 'CERTIFICATE', path.join(dir, 'root-cert.pem'));
    const chain = chainText ? splitPemBundle(chainText, 'CERTIFICATE', path.join(dir, 'cert-chain.pem')) : [];
    const caInfo = parseCertificate(caCert);
    if (!caInfo.isCa) throw new MeshCAError('E_CA_INVALID', `${dir}/ca-cert.pem ("${caInfo.subject}") is not a CA certificate`);
    if (!keyMatchesPublicKey(caKeyText, caInfo.publicKeyPem))
      throw new MeshCAError('E_CA_INVALID', `${dir}/ca-key.pem is not the key of ${dir}/ca-cert.pem`);
    const rootFps = new Set(roots.map((r) => parseCertificate(r).fingerprintSha256));
    const intermediates = chain.filter((c) => {
      const fp = parseCertificate(c).fingerprintSha256;
      return fp !== caInfo.fingerprintSha256 && !rootFps.has(fp);
    });
    const now = opts.now ?? (() => new Date());
    const result = verifyChain([caCert, ...intermediates], roots, { now: now() });
    if (!result.ok) throw new MeshCAError('E_CA_INVALID', `${dir}/ca-cert.pem does not chain to ${dir}/root-cert.pem: ${result.reason}`);
    return new MeshCA(trustDomain, caCert, toPkcs8Pem(caKeyText), intermediates, roots, opts);
  }

  /** Writes the `cacerts` layout (private-file.ts: temp name, rename); the key file is 0600 and the directory 0700. */
  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const signingRoot = this.issuingRoot();
    const chain = [this.signingCertPem, ...this.intermediatePems];
    if (signingRoot && signingRoot !== this.signingCertPem) chain.push(signingRoot);
    await writePrivateFile(path.join(dir, 'ca-key.pem'), this.signingKeyPem);
    await writePrivateFile(path.join(dir, 'ca-cert.pem'), this.signingCertPem, { mode: 0o644 });
    await writePrivateFile(path.join(dir, 'root-cert.pem'), this.rootBundlePem(), { mode: 0o644 });
    await writePrivateFile(path.join(dir, 'cert-chain.pem'), chain.join(''), { mode: 0o644 });
  }

  /** Every trusted root, concatenated; holds several during a root rotation's overlap. */
  rootBundlePem(): string {
    return this.roots.join('');
  }

  rootCertPems(): string[] {
    return [...this.roots];
  }

  signingCertificate(): CertificateInfo {
    return parseCertificate(this.signingCertPem);
  }

  /** Adds roots to the trust bundle (e.g. the next root during a rotation); duplicates are ignored. */
  addTrustedRoots(pems: string[]): void {
    const have = new Set(this.roots.map((r) => parseCertificate(r).fingerprintSha256));
    for (const text of pems) {
      for (const pem of splitPemBundle(text)) {
        const info = parseCertificate(pem);
        if (!info.isCa) throw new MeshCAError('E_CA_INVALID', `"${info.subject}" is not a CA certificate and cannot be a trusted root`);
        if (!have.has(info.fingerprintSha256)) {
          have.add(info.fingerprintSha256);
          this.roots.push(info.pem);
        }
      }
    }
  }

  spiffeId(identity: WorkloadIdentity): string {
    return spiffeId(this.trustDomain, identity);
  }

  /**
   * Signs a workload CSR for `identity`. Only the public key is taken from the CSR: the certificate
   * carries exactly the identity's SPIFFE ID as its one URI SAN, an empty subject, and both TLS usages.
   * Returns [leaf, signing CA (if not a root), intermediates..., root bundle] as Istio's CA does.
   */
  async signWorkloadCsr(csrPem: string, identity: WorkloadIdentity, ttlSeconds: number, signOpts: SignOptions = {}): Promise<string[]> {
    for (const [field, value] of [
      ['namespace', identity.namespace],
      ['serviceAccount', identity.serviceAccount],
    ] as const) {
      if (!K8S_NAME.test(value)) throw new MeshCAError('E_CA_IDENTITY_INVALID', `${field} "${value}" is not a valid Kubernetes name`);
    }
    let csr;
    try {
      csr = parseCsr(csrPem);
    } catch (err) {
      throw new MeshCAError('E_CSR_INVALID', `the CSR cannot be read: ${(err as Error).message}`);
    }
    const keyProblem = workloadKeyProblem(csr.publicKeyPem);
    if (keyProblem) throw new MeshCAError('E_CSR_KEY_REJECTED', `the CSR's key is not accepted: ${keyProblem}`);
    if (!(await verifyCsrSignature(csrPem)))
      throw new MeshCAError('E_CSR_INVALID', 'the CSR signature does not verify with its own public key');
    const now = this.now();
    const signer = this.signingCertificate();
    // As Istio's CA: no (or a non-positive) TTL gets the default; a TTL above the maximum is refused, not
    // capped, so a caller never silently holds a shorter certificate than it asked for.
    if (Number.isFinite(ttlSeconds) && ttlSeconds > this.maxTtlSeconds) {
      throw new MeshCAError(
        'E_CA_TTL_TOO_LONG',
        `requested TTL ${formatSeconds(ttlSeconds)} is greater than the max allowed TTL ${formatSeconds(this.maxTtlSeconds)}`,
      );
    }
    const requested = Number.isFinite(ttlSeconds) && ttlSeconds > 0 ? ttlSeconds : this.defaultTtlSeconds;
    // Never outlive the signing certificate: a chain with a leaf that outlives its CA breaks mid-life.
    const untilCaExpiry = Math.floor((signer.notAfter.getTime() - now.getTime()) / 1000);
    const untilCredentialExpiry = signOpts.notAfterLimit ? Math.floor((signOpts.notAfterLimit.getTime() - now.getTime()) / 1000) : Infinity;
    if (untilCredentialExpiry <= 0)
      throw new MeshCAError(
        'E_CA_CREDENTIAL_EXPIRED',
        `the credential that authenticated the request expired at ${signOpts.notAfterLimit?.toISOString()}`,
      );
    const ttl = Math.min(requested, this.maxTtlSeconds, untilCaExpiry, untilCredentialExpiry);
    if (ttl <= 0) throw new MeshCAError('E_CA_INVALID', `the signing CA "${signer.subject}" expired at ${signer.notAfter.toISOString()}`);
    const leaf = await issueCertificate({
      subject: '',
      publicKeyPem: csr.publicKeyPem,
      issuer: { certPem: this.signingCertPem, privateKeyPem: this.signingKeyPem },
      usage: 'both',
      uris: [this.spiffeId(identity)],
      ttlSeconds: ttl,
      now,
    });
    return [leaf, ...this.chainAboveLeaf(), this.rootBundlePem()];
  }

  /** A serving certificate for the control plane's own TLS (e.g. `istiod.istio-system.svc`). */
  async issueServingCertificate(dnsNames: string[], ttlSeconds: number): Promise<{ certChainPem: string; privateKeyPem: string }> {
    if (dnsNames.length === 0) throw new MeshCAError('E_CA_IDENTITY_INVALID', 'a serving certificate needs at least one DNS name');
    const keys = await generateKeyPair('ec-p256');
    const leaf = await issueCertificate({
      subject: `CN=${dnsNames[0] as string}`,
      publicKeyPem: keys.publicKeyPem,
      issuer: { certPem: this.signingCertPem, privateKeyPem: this.signingKeyPem },
      usage: 'server',
      dns: dnsNames,
      ttlSeconds: Math.min(ttlSeconds, Math.floor((this.signingCertificate().notAfter.getTime() - this.now().getTime()) / 1000)),
      now: this.now(),
    });
    return { certChainPem: [leaf, ...this.chainAboveLeaf()].join(''), privateKeyPem: keys.privateKeyPem };
  }

  /** The signing certificate (unless it is itself a root) and the intermediates above it. */
  private chainAboveLeaf(): string[] {
    const rootFps = new Set(this.roots.map((r) => parseCertificate(r).fingerprintSha256));
    const signerIsRoot = rootFps.has(parseCertificate(this.signingCertPem).fingerprintSha256);
    return signerIsRoot ? [] : [this.signingCertPem, ...this.intermediatePems];
  }

  /** The root the signing certificate chains to, if it is in the bundle. */
  private issuingRoot(): string | undefined {
    const top = parseCertificate(this.intermediatePems[this.intermediatePems.length - 1] ?? this.signingCertPem);
    return this.roots.find((r) => {
      const info = parseCertificate(r);
      return (
        info.fingerprintSha256 === top.fingerprintSha256 ||
        (info.subject === top.issuer && (!top.authorityKeyId || top.authorityKeyId === info.subjectKeyId))
      );
    });
  }
}

/** `24h`, `90m`, `45s`: the largest unit that divides the value, as Go prints whole durations. */
function formatSeconds(s: number): string {
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

function validateTrustDomain(td: string): void {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(td))
    throw new MeshCAError('E_CA_INVALID', `trust domain "${td}" must be a lowercase DNS-like name (e.g. cluster.local)`);
}
