// The proxy agent's side of workload identity (pilot-agent's SDS cache): keep a current key and
// certificate, renew when `graceRatio` of the lifetime is left (Istio's SECRET_GRACE_PERIOD_RATIO,
// 0.5 by default) with a fresh key each time, and retry with backoff when the CA is unreachable.
// Consumers read current() per new connection, so existing connections keep the credential they
// started with and nothing is dropped.
import { EventEmitter } from 'node:events';
import { generateKeyPair, type KeyAlgorithm } from './keys.js';
import { createCsr, parseCertificate, type CertificateInfo } from './certificate.js';
import { keyMatchesPublicKey } from './keys.js';

export type TimerHandle = { cancel(): void };
export type SetTimer = (fn: () => void, delayMs: number) => TimerHandle;

export interface WorkloadCertificate {
  /** Leaf first, then any intermediates (no root). */
  certChainPem: string;
  privateKeyPem: string;
  /** The trust bundle the CA returned (last element of the chain; may hold several roots). */
  rootPem: string;
  info: CertificateInfo;
}

export interface WorkloadCertificateManagerOptions {
  keyAlgorithm?: KeyAlgorithm;
  requestChain: (csrPem: string, ttlSeconds: number) => Promise<string[]>;
  ttlSeconds?: number;
  graceRatio?: number;
  /** Milliseconds since the epoch. */
  now?: () => number;
  setTimer?: SetTimer;
  retryInitialMs?: number;
  retryMaxMs?: number;
}

export class WorkloadCertificateError extends Error {
  readonly code = 'E_WORKLOAD_CERT';
  constructor(message: string) {
    super(message);
    this.name = 'WorkloadCertificateError';
  }
}

const defaultSetTimer: SetTimer = (fn, delayMs) => {
  // setTimeout's limit is 2^31-1 ms (~24.8 days); longer waits are chained.
  const max = 2 ** 31 - 1;
  let t: NodeJS.Timeout;
  const arm = (remaining: number): void => {
    t = setTimeout(() => (remaining > max ? arm(remaining - max) : fn()), Math.min(remaining, max));
    t.unref();
  };
  arm(Math.max(0, delayMs));
  return { cancel: () => clearTimeout(t) };
};

/**
 * Events: 'rotated' (WorkloadCertificate) after every renewal; 'renewalFailed' (error, attempt) when a
 * renewal attempt fails and will be retried.
 */
export class WorkloadCertificateManager extends EventEmitter {
  private readonly ttlSeconds: number;
  private readonly graceRatio: number;
  private readonly now: () => number;
  private readonly setTimer: SetTimer;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private cert: WorkloadCertificate | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private attempt = 0;

  constructor(private readonly opts: WorkloadCertificateManagerOptions) {
    super();
    this.ttlSeconds = opts.ttlSeconds ?? 86400;
    this.graceRatio = opts.graceRatio ?? 0.5;
    if (!(this.graceRatio > 0 && this.graceRatio < 1))
      throw new RangeError(`graceRatio must be between 0 and 1 (exclusive), got ${this.graceRatio}`);
    this.now = opts.now ?? Date.now;
    this.setTimer = opts.setTimer ?? defaultSetTimer;
    this.retryInitialMs = opts.retryInitialMs ?? 1000;
    this.retryMaxMs = opts.retryMaxMs ?? 60_000;
  }

  /** Obtains the first certificate (rejects if that fails) and schedules its renewal. */
  async start(): Promise<void> {
    this.stopped = false;
    this.cert = await this.fetch();
    this.schedule(this.renewDelayMs(this.cert.info));
  }

  current(): WorkloadCertificate {
    if (!this.cert) throw new WorkloadCertificateError('no workload certificate yet: start() has not completed');
    return this.cert;
  }

  /** When the current certificate will be renewed (ms since epoch). */
  renewalTime(): number | undefined {
    return this.cert ? this.renewAt(this.cert.info) : undefined;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private renewAt(info: CertificateInfo): number {
    const start = info.notBefore.getTime();
    const lifetime = info.notAfter.getTime() - start;
    return start + lifetime * (1 - this.graceRatio);
  }

  private renewDelayMs(info: CertificateInfo): number {
    return Math.max(0, this.renewAt(info) - this.now());
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.setTimer(() => {
      this.timer = undefined;
      void this.renew();
    }, delayMs);
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    try {
      const next = await this.fetch();
      if (this.stopped) return;
      this.cert = next;
      this.attempt = 0;
      this.emit('rotated', next);
      this.schedule(this.renewDelayMs(next.info));
    } catch (err) {
      if (this.stopped) return;
      this.attempt++;
      this.emit('renewalFailed', err, this.attempt);
      const backoff = Math.min(this.retryInitialMs * 2 ** (this.attempt - 1), this.retryMaxMs);
      this.schedule(backoff);
    }
  }

  private async fetch(): Promise<WorkloadCertificate> {
    const keys = await generateKeyPair(this.opts.keyAlgorithm ?? 'ec-p256');
    const csr = await createCsr({ privateKeyPem: keys.privateKeyPem });
    const chain = await this.opts.requestChain(csr, this.ttlSeconds);
    if (chain.length < 2) throw new WorkloadCertificateError(`the CA returned ${chain.length} certificate(s); expected a leaf and a root`);
    const info = parseCertificate(chain[0] as string);
    if (!keyMatchesPublicKey(keys.privateKeyPem, info.publicKeyPem))
      throw new WorkloadCertificateError('the CA returned a certificate for a different key');
    return {
      certChainPem: chain.slice(0, -1).join(''),
      privateKeyPem: keys.privateKeyPem,
      rootPem: chain[chain.length - 1] as string,
      info,
    };
  }
}
