// A token bucket per identity for the CA's CreateCertificate: one workload (or one stolen token)
// hammering the CA cannot starve the others of signatures. Istio has no such limit per identity; the
// defaults are generous so that renewals (one per pod every 12 h), a lab starting every pod at once and
// a Deployment rolling out many replicas of one service account never meet it.

export interface IdentityRateLimitOptions {
  /** Requests an identity may make at once (the bucket's size). */
  burst: number;
  /** Requests per second an identity regains (the bucket's refill rate). */
  perSecond: number;
  /** Milliseconds since an epoch; tests pass their own clock. */
  now?: () => number;
}

export const DEFAULT_CA_RATE_LIMIT: Readonly<IdentityRateLimitOptions> = { burst: 100, perSecond: 2 };

/** Buckets beyond this many are pruned of those that are full again (an idle identity costs nothing). */
const PRUNE_AT = 10_000;

export class IdentityRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;

  constructor(private readonly opts: IdentityRateLimitOptions = DEFAULT_CA_RATE_LIMIT) {
    if (!(opts.burst >= 1) || !(opts.perSecond > 0))
      throw new RangeError(`rate limit needs burst >= 1 and perSecond > 0, got ${opts.burst} and ${opts.perSecond}`);
    this.now = opts.now ?? Date.now;
  }

  /** Takes one request from `identity`'s bucket: 0 when allowed, else the seconds until one is. */
  take(identity: string): number {
    const now = this.now();
    const b = this.buckets.get(identity) ?? { tokens: this.opts.burst, at: now };
    b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.perSecond);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(identity, b);
      return Math.ceil((1 - b.tokens) / this.opts.perSecond);
    }
    b.tokens -= 1;
    this.buckets.set(identity, b);
    if (this.buckets.size > PRUNE_AT) this.prune(now);
    return 0;
  }

  private prune(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.opts.perSecond >= this.opts.burst) this.buckets.delete(k);
    }
  }
}
