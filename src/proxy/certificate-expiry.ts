// Certificate expiry, reported the way operators watch for it: a gauge per certificate in use with its
// expiry time (Envoy's `ssl.certificate.<name>.expiration_unix_time_seconds`), Envoy's
// `server.days_until_first_cert_expiring`, a warning when a secret arrives that expires soon or has
// already expired, and an error line at the moment a certificate in use expires. Handshakes with an
// expired certificate fail on their own (the peer refuses it); this makes the failure visible beforehand.
import { Gauge, type Registry } from 'prom-client';
import type { LogFn } from '../shared/log.js';

export interface CertificateInUse {
  name: string;
  kind: 'certificate' | 'ca';
  serial: string;
  validTo: string;
}

/** Warn when a certificate that arrives has less than this left (Istio's workload certs live 24 h). */
const WARN_WITHIN_MS = 12 * 3600_000;
/** setTimeout's ceiling; expiries further out are re-armed when the secret changes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class CertificateExpiryWatch {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    registry: Registry,
    private readonly certs: () => CertificateInUse[],
    private readonly log: LogFn,
    private readonly now: () => number,
  ) {
    const certsInUse = (): CertificateInUse[] => this.certs();
    const nowMs = (): number => this.now();
    new Gauge({
      name: 'meshgate_proxy_certificate_expiration_unix_time_seconds',
      help: 'Expiry time of each certificate in use, by secret and serial',
      labelNames: ['secret', 'kind', 'serial'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of certsInUse())
          this.set({ secret: c.name, kind: c.kind, serial: c.serial }, Math.floor(Date.parse(c.validTo) / 1000));
      },
    });
    new Gauge({
      name: 'envoy_server_days_until_first_cert_expiring',
      help: 'Days until the first certificate in use expires (negative once expired)',
      registers: [registry],
      collect() {
        const first = Math.min(...certsInUse().map((c) => Date.parse(c.validTo)));
        this.set(Number.isFinite(first) ? Math.floor((first - nowMs()) / 86_400_000) : 0);
      },
    });
  }

  /** Called after secrets change: warn about what expires soon, and arm one timer per certificate. */
  secretsChanged(names: readonly string[]): void {
    const changed = new Set(names);
    for (const c of this.certs()) {
      if (!changed.has(c.name) || c.kind !== 'certificate') continue;
      const key = c.name;
      clearTimeout(this.timers.get(key));
      this.timers.delete(key);
      const left = Date.parse(c.validTo) - this.now();
      const fields = { secret: c.name, serial: c.serial, expires: c.validTo };
      if (left <= 0) {
        this.log(
          'error',
          `certificate of secret "${c.name}" (serial ${c.serial}) expired at ${c.validTo}; handshakes presenting it fail`,
          fields,
        );
        continue;
      }
      if (left < WARN_WITHIN_MS)
        this.log(
          'warn',
          `certificate of secret "${c.name}" (serial ${c.serial}) expires at ${c.validTo}, in ${Math.round(left / 1000)} s`,
          fields,
        );
      if (left > MAX_TIMER_MS) continue;
      const t = setTimeout(() => {
        this.timers.delete(key);
        this.log(
          'error',
          `certificate of secret "${c.name}" (serial ${c.serial}) expired at ${c.validTo}; handshakes presenting it fail until it is rotated`,
          fields,
        );
      }, left);
      t.unref();
      this.timers.set(key, t);
    }
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
