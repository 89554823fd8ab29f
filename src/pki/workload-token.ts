// Workload tokens: how a proxy proves who it is before the CA signs. They are shaped like Kubernetes
// projected service-account tokens (ES256 JWT, `sub: system:serviceaccount:<ns>:<sa>`, a
// `kubernetes.io` claim, audience `istio-ca`), minted by the lab (playing the API server) and checked
// by the CA service.
import { randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, importPKCS8, importSPKI, jwtVerify, type JWTPayload } from 'jose';
import { generateKeyPair } from './keys.js';

export const DEFAULT_TOKEN_AUDIENCE = 'istio-ca';

export type CaAuthReason =
  'missing' | 'malformed' | 'bad-signature' | 'expired' | 'not-yet-valid' | 'wrong-audience' | 'wrong-issuer' | 'no-identity';

export class CaAuthError extends Error {
  readonly code = 'E_CA_UNAUTHORIZED';
  constructor(
    readonly reason: CaAuthReason,
    message: string,
  ) {
    super(message);
    this.name = 'CaAuthError';
  }
}

interface KubernetesClaim {
  namespace?: unknown;
  serviceaccount?: { name?: unknown; uid?: unknown };
}

const SUBJECT = /^system:serviceaccount:([^:]+):([^:]+)$/;

export class TokenIssuer {
  private constructor(
    readonly issuer: string,
    private readonly keyPem: { privateKeyPem: string; publicKeyPem: string },
    private readonly now: () => Date,
  ) {}

  static async create(issuer: string, opts: { now?: () => Date } = {}): Promise<TokenIssuer> {
    return new TokenIssuer(issuer, await generateKeyPair('ec-p256'), opts.now ?? (() => new Date()));
  }

  /** Rebuilds an issuer from a saved key (the lab keeps one per cluster). */
  static fromPrivateKey(
    issuer: string,
    keys: { privateKeyPem: string; publicKeyPem: string },
    opts: { now?: () => Date } = {},
  ): TokenIssuer {
    return new TokenIssuer(issuer, keys, opts.now ?? (() => new Date()));
  }

  publicKeyPem(): string {
    return this.keyPem.publicKeyPem;
  }

  privateKeyPem(): string {
    return this.keyPem.privateKeyPem;
  }

  /** A signed token for one service account, valid from now for `ttlSeconds`. */
  async mint(opts: {
    namespace: string;
    serviceAccount: string;
    audience?: string;
    ttlSeconds: number;
    notBefore?: Date;
  }): Promise<string> {
    const key = await importPKCS8(this.keyPem.privateKeyPem, 'ES256');
    const iat = Math.floor(this.now().getTime() / 1000);
    const nbf = opts.notBefore ? Math.floor(opts.notBefore.getTime() / 1000) : iat;
    const claims: JWTPayload & { 'kubernetes.io': KubernetesClaim } = {
      'kubernetes.io': { namespace: opts.namespace, serviceaccount: { name: opts.serviceAccount, uid: randomUUID() } },
    };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(`system:serviceaccount:${opts.namespace}:${opts.serviceAccount}`)
      .setAudience(opts.audience ?? DEFAULT_TOKEN_AUDIENCE)
      .setIssuedAt(iat)
      .setNotBefore(nbf)
      .setExpirationTime(nbf + opts.ttlSeconds)
      .sign(key);
  }
}

export interface TokenVerifierOptions {
  issuer: string;
  audience?: string;
  clockSkewSeconds?: number;
  now?: () => Date;
}

export class TokenVerifier {
  private readonly keys: Promise<Awaited<ReturnType<typeof importSPKI>>[]>;

  constructor(
    publicKeyPems: string[],
    private readonly opts: TokenVerifierOptions,
  ) {
    if (publicKeyPems.length === 0) throw new RangeError('TokenVerifier needs at least one public key');
    this.keys = Promise.all(publicKeyPems.map((pem) => importSPKI(pem, 'ES256')));
    // Surface a bad key at verify() time, not as an unhandled rejection now.
    this.keys.catch(() => undefined);
  }

  /** The identity a valid token speaks for; CaAuthError (E_CA_UNAUTHORIZED) otherwise. */
  async verify(token: string): Promise<{ namespace: string; serviceAccount: string }> {
    return (await this.verifyWithExpiry(token)).identity;
  }

  /** As verify(), plus the token's `exp`: the CA never issues a certificate that outlives it. */
  async verifyWithExpiry(token: string): Promise<{ identity: { namespace: string; serviceAccount: string }; expiresAt: Date }> {
    if (typeof token !== 'string' || token.length === 0) throw new CaAuthError('missing', 'no token was presented');
    if (token.split('.').length !== 3) throw new CaAuthError('malformed', 'the token is not a compact JWT (three base64url parts)');
    const keys = await this.keys;
    let payload: JWTPayload | undefined;
    let lastSignatureError: unknown;
    for (const key of keys) {
      try {
        ({ payload } = await jwtVerify(token, key, {
          issuer: this.opts.issuer,
          audience: this.opts.audience ?? DEFAULT_TOKEN_AUDIENCE,
          algorithms: ['ES256'],
          clockTolerance: this.opts.clockSkewSeconds ?? 30,
          requiredClaims: ['exp', 'sub'],
          ...(this.opts.now ? { currentDate: this.opts.now() } : {}),
        }));
        break;
      } catch (err) {
        if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
          lastSignatureError = err;
          continue; // try the next trusted key (key rotation overlap)
        }
        throw translate(err);
      }
    }
    if (!payload)
      throw new CaAuthError(
        'bad-signature',
        `the token is not signed by a trusted key (${(lastSignatureError as Error | undefined)?.message ?? 'no key matched'})`,
      );
    // requiredClaims makes `exp` present; jose checked it is a number.
    return { identity: identityOf(payload), expiresAt: new Date((payload.exp as number) * 1000) };
  }
}

function translate(err: unknown): CaAuthError {
  if (err instanceof joseErrors.JWTExpired) return new CaAuthError('expired', 'the token has expired; mint a fresh one');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat')
      return new CaAuthError('not-yet-valid', `the token is not valid yet (${err.claim}); check the clocks`);
    if (err.claim === 'aud') return new CaAuthError('wrong-audience', 'the token was minted for a different audience');
    if (err.claim === 'iss') return new CaAuthError('wrong-issuer', 'the token was minted by a different issuer');
    return new CaAuthError('malformed', `the token's "${err.claim}" claim is invalid: ${err.reason}`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new CaAuthError('bad-signature', 'the token is not signed with ES256');
  if (err instanceof joseErrors.JOSEError) return new CaAuthError('malformed', `the token cannot be read: ${err.message}`);
  return new CaAuthError('malformed', `the token cannot be read: ${(err as Error).message ?? String(err)}`);
}

function identityOf(payload: JWTPayload): { namespace: string; serviceAccount: string } {
  const k8s = payload['kubernetes.io'] as KubernetesClaim | undefined;
  const m = SUBJECT.exec(payload.sub ?? '');
  if (!m) throw new CaAuthError('no-identity', `the token subject "${payload.sub ?? ''}" is not system:serviceaccount:<namespace>:<name>`);
  const namespace = m[1] as string;
  const serviceAccount = m[2] as string;
  // A token whose kubernetes.io claim disagrees with its subject is forged or corrupted.
  if (
    k8s &&
    ((k8s.namespace !== undefined && k8s.namespace !== namespace) ||
      (k8s.serviceaccount?.name !== undefined && k8s.serviceaccount.name !== serviceAccount))
  ) {
    throw new CaAuthError('no-identity', 'the token subject and its kubernetes.io claim name different service accounts');
  }
  return { namespace, serviceAccount };
}
