// The secret manager (Envoy's SDS secret manager): applies SDS secrets and the agent's local ones to the
// SecretStore handshakes read, remembers each secret's version for config_dump, lists the certificates
// held (Envoy's /certs) and watches their expiry.
import { X509Certificate } from 'node:crypto';
import type { Secret } from '../envoy/envoy-types.js';
import { CertificateExpiryWatch } from './certificate-expiry.js';
import type { LogFn } from './proxy-context.js';
import { SecretStore } from './secrets.js';
import type { ProxyStats } from './stats.js';

/** One certificate the proxy holds, as /certs shows it. */
export interface CertificateInfo {
  name: string;
  kind: 'certificate' | 'ca';
  serial: string;
  subject: string;
  sans: string[];
  issuer: string;
  validFrom: string;
  validTo: string;
  daysUntilExpiration: number;
}

export class SecretManager {
  readonly store = new SecretStore();
  readonly versions = new Map<string, { version: string; lastUpdated: string }>();
  private readonly expiry: CertificateExpiryWatch;

  constructor(
    private readonly stats: ProxyStats,
    private readonly log: LogFn,
    private readonly now: () => number,
  ) {
    this.expiry = new CertificateExpiryWatch(stats.registry, () => this.certs(), log, now);
  }

  apply(ss: Secret[], version: string): void {
    try {
      const changed = this.store.apply(ss, 'sds');
      const at = new Date().toISOString();
      for (const n of changed) this.versions.set(n, { version, lastUpdated: at });
      if (changed.length > 0) this.log('info', `secrets updated: ${changed.join(', ')}`);
      this.expiry.secretsChanged(changed);
      this.stats.configUpdates.inc({ type: 'secret', result: 'accepted' });
    } catch (err) {
      this.stats.configUpdates.inc({ type: 'secret', result: 'rejected' });
      throw err;
    }
  }

  /** The agent's local SDS: the workload certificate (`default`) and the mesh trust bundle (`ROOTCA`). */
  setLocal(name: 'default' | 'ROOTCA', secret: Secret): void {
    const changed = this.store.apply([{ ...secret, name }], 'local');
    const at = new Date().toISOString();
    for (const n of changed) this.versions.set(n, { version: 'local', lastUpdated: at });
    if (changed.length > 0) this.log('info', `local secret "${name}" updated`);
    this.expiry.secretsChanged(changed);
  }

  /** Every certificate the proxy holds: serial, SANs, issuer, expiry (Envoy's /certs). */
  certs(): CertificateInfo[] {
    const out: CertificateInfo[] = [];
    for (const s of this.store.all()) {
      for (const [kind, pem] of [
        ['certificate', s.certChainPem],
        ['ca', s.trustedCaPem],
      ] as const) {
        if (!pem) continue;
        for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
          const x = new X509Certificate(block);
          out.push({
            name: s.name,
            kind,
            serial: x.serialNumber,
            subject: x.subject,
            sans: (x.subjectAltName ?? '').split(', ').filter(Boolean),
            issuer: x.issuer,
            validFrom: new Date(x.validFrom).toISOString(),
            validTo: new Date(x.validTo).toISOString(),
            daysUntilExpiration: Math.floor((new Date(x.validTo).getTime() - this.now()) / 86_400_000),
          });
          if (kind === 'certificate') break; // the leaf is what is "in use"; the chain's CAs are listed by the ROOTCA entry
        }
      }
    }
    return out;
  }

  close(): void {
    this.expiry.close();
  }
}
