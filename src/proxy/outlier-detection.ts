// Outlier detection for L4 clusters (cluster.v3.OutlierDetection). For TCP the only signal is the
// connection attempt: with split_external_local_origin_errors a failed connect is a local-origin error
// counted against consecutive_local_origin_failure; without it Envoy treats it like a gateway error
// (a 503), counted against consecutive_5xx and consecutive_gateway_failure. An ejected host comes back
// after base_ejection_time × number of times it was ejected; at most max_ejection_percent of the hosts
// are ejected at once, but always at least one, as in current Envoy.
import type { OutlierDetection } from '../envoy/envoy-types.js';
import { optionalDurationMs } from './duration.js';
import { ProxyConfigError } from './errors.js';
import type { UpstreamHost } from './host.js';

export class OutlierDetector {
  private readonly threshold: number;
  private readonly baseEjectionMs: number;
  private readonly maxEjectionPercent: number;

  constructor(cfg: OutlierDetection, res: string, field: string) {
    const int = (v: unknown, dflt: number, f: string): number => {
      if (v === undefined) return dflt;
      if (!Number.isInteger(v) || (v as number) < 0)
        throw new ProxyConfigError(res, `${field}.${f}`, `must be a non-negative integer, got ${JSON.stringify(v)}`);
      return v as number;
    };
    const candidates: number[] = [];
    if (cfg.splitExternalLocalOriginErrors === true) {
      if (int(cfg.enforcingConsecutiveLocalOriginFailure, 100, 'enforcingConsecutiveLocalOriginFailure') > 0)
        candidates.push(int(cfg.consecutiveLocalOriginFailure, 5, 'consecutiveLocalOriginFailure'));
    } else {
      if (int(cfg.enforcingConsecutive5xx, 100, 'enforcingConsecutive5xx') > 0)
        candidates.push(int(cfg.consecutive5xx, 5, 'consecutive5xx'));
      if (int(cfg.enforcingConsecutiveGatewayFailure, 0, 'enforcingConsecutiveGatewayFailure') > 0)
        candidates.push(int(cfg.consecutiveGatewayFailure, 5, 'consecutiveGatewayFailure'));
    }
    this.threshold = candidates.filter((c) => c > 0).reduce((a, b) => Math.min(a, b), Infinity);
    this.baseEjectionMs = optionalDurationMs(cfg.baseEjectionTime, 30_000, res, `${field}.baseEjectionTime`);
    this.maxEjectionPercent = int(cfg.maxEjectionPercent, 10, 'maxEjectionPercent');
    if (this.maxEjectionPercent > 100) throw new ProxyConfigError(res, `${field}.maxEjectionPercent`, 'must be 0..100');
  }

  onSuccess(h: UpstreamHost): void {
    h.consecutiveFailures = 0;
  }

  /** Records a failed connect; returns true when the host was ejected now. */
  onFailure(h: UpstreamHost, hosts: readonly UpstreamHost[], now: number): boolean {
    h.consecutiveFailures++;
    if (h.consecutiveFailures < this.threshold || h.isEjected(now)) return false;
    let ejected = 0;
    for (const x of hosts) if (x.isEjected(now)) ejected++;
    const max = Math.max(1, Math.floor((hosts.length * this.maxEjectionPercent) / 100));
    if (ejected >= max) return false;
    h.ejections++;
    h.ejectedUntil = now + this.baseEjectionMs * h.ejections;
    h.consecutiveFailures = 0;
    return true;
  }
}
