// Fault: certificates running out. (1) A workload certificate about to expire is renewed: the server
// sidecar is restarted with a 40 s certificate lifetime and must present a new one before the old one
// expires, while connections through it keep echoing. (2) A gateway credential that expires: the ingress
// gateway gets an R-signed credential valid for 25 s; before and after expiry it must be reported
// (/certs, a metric, a log line), and once expired connections must fail closed (no byte through) until
// a valid credential is written again.
import { readFileSync } from 'node:fs';
import { issueBenchLeaf } from '../../bench/certs.js';
import { INGRESS_SECRET, writeCredentialSecret } from '../../bench/meshgate-chain.js';
import { presentedSerial } from '../../bench/loads/rotation.js';
import { HeldConnections } from '../held-connections.js';
import { getText, type SoakChain } from '../lab-chain.js';
import type { SoakReport } from '../results.js';
import { MYSQL_SNI } from '../../bench/certs.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface CertEntry {
  name?: string;
  serial?: string;
  serialNumber?: string;
  validTo?: string;
  expirationTime?: string;
  daysUntilExpiration?: number;
}

/**
 * Certificate descriptions from /certs, whatever nesting the admin uses (Envoy's
 * `certificates[{name, cert_chain[{serial_number, ...}]}]` or a flat list); each carries the name of the
 * nearest enclosing object that has one (the secret's name).
 */
function certEntries(json: unknown, out: CertEntry[] = [], name?: string): CertEntry[] {
  if (Array.isArray(json)) for (const x of json) certEntries(x, out, name);
  else if (json && typeof json === 'object') {
    const o = json as Record<string, unknown>;
    const here = typeof o.name === 'string' ? o.name : name;
    const serial = o.serial ?? o.serialNumber ?? o.serial_number;
    if (typeof serial === 'string') out.push({ ...o, name: here, serial } as CertEntry);
    for (const v of Object.values(o)) if (v && typeof v === 'object') certEntries(v, out, here);
  }
  return out;
}

const norm = (s: string | undefined): string =>
  (s ?? '')
    .replace(/[^0-9a-f]/gi, '')
    .replace(/^0+/, '')
    .toUpperCase();

export async function workloadCertRenewed(report: SoakReport, chain: SoakChain, connections: number): Promise<void> {
  await report.check(
    'fault: workload certificate about to expire',
    'a sidecar with a 40 s certificate presents a renewed one before the old one expires, while held connections through it echo intact',
    async () => {
      chain.killProxy(3);
      await chain.restartProxy(3, (b) => ({ ...b, certTtlSeconds: 40, certGraceRatio: 0.5 }));
      const admin = chain.proxies[3]!.adminUrl;
      const serialOf = async (): Promise<string> => {
        const entries = certEntries(JSON.parse(await getText(`${admin}/certs`)));
        const own = entries.find((e) => e.name === 'default');
        if (!own) throw new Error(`/certs of the server sidecar lists no "default" certificate: ${JSON.stringify(entries).slice(0, 300)}`);
        return norm(own.serial);
      };
      const first = await serialOf();
      const held = new HeldConnections(chain.target);
      try {
        const opened = await held.open(connections, { concurrency: 32 });
        if (opened.failed > 0) throw new Error(`could not open the connections to hold: ${held.openErrors.join('; ')}`);
        const deadline = Date.now() + 45_000;
        let now = first;
        while (now === first && Date.now() < deadline) {
          await sleep(1000);
          now = await serialOf();
        }
        const during = await held.exchange(4096);
        const fresh = new HeldConnections(chain.target);
        const freshOpened = await fresh.open(10, { concurrency: 2 });
        await fresh.closeAll();
        report.bytesSent += held.bytesSent + fresh.bytesSent;
        report.bytesLost += during.bytesLost;
        const detail = `serial ${first} → ${now}; held ${during.intact}/${connections} intact; new ${freshOpened.opened}/10`;
        if (now === first || during.intact !== connections || freshOpened.opened !== 10)
          throw new Error(`${detail}${now === first ? ' (not renewed within 45 s)' : ''}`);
        return detail;
      } finally {
        await held.closeAll();
        // Back to the lab's own bootstrap for what follows.
        chain.killProxy(3);
        await chain.restartProxy(3);
      }
    },
  );
}

export async function gatewayCredentialExpires(report: SoakReport, chain: SoakChain): Promise<void> {
  await report.check(
    'fault: gateway credential expires',
    'the expiring credential is reported in /certs, a metric and a log line before and after expiry; after expiry connections fail closed; a new credential restores service',
    async () => {
      const ingress = chain.proxies[2]!;
      const lifetime = 25;
      const leaf = await issueBenchLeaf(chain.certs.root, {
        commonName: MYSQL_SNI,
        dns: [MYSQL_SNI],
        usage: 'server',
        ttlSeconds: lifetime,
      });
      const notAfter = Date.now() + lifetime * 1000;
      await writeCredentialSecret(chain.configDir('cluster-b'), INGRESS_SECRET, leaf, chain.certs.root.certPem);
      const probe = chain.chain.rotation.probe;
      const until = Date.now() + 20_000;
      let presented = '';
      while (presented !== leaf.serialHex && Date.now() < until) {
        presented = await presentedSerial(probe).catch(() => '');
        if (presented !== leaf.serialHex) await sleep(200);
      }
      if (presented !== leaf.serialHex)
        throw new Error(`the ingress gateway did not present the short-lived credential within 20 s (presented ${presented || 'nothing'})`);
      const findings: string[] = [];
      const reported = async (when: string): Promise<void> => {
        const certs = certEntries(JSON.parse(await getText(`${ingress.adminUrl}/certs`)));
        if (!certs.some((c) => norm(c.serial) === norm(leaf.serialHex)))
          findings.push(`${when}: /certs does not list serial ${leaf.serialHex}`);
        const metrics = await getText(`${ingress.adminUrl}/stats/prometheus`);
        if (!metrics.split('\n').some((l) => /expir/i.test(l) && !l.startsWith('#')))
          findings.push(`${when}: no certificate-expiry metric in /stats/prometheus`);
        const logText = readFileSync(chain.proxyLogFile(2), 'utf8');
        if (!logText.split('\n').some((l) => /expir/i.test(l) && /mysql-credential|kubernetes:\/\//.test(l)))
          findings.push(`${when}: no log line about the expiring credential in ${chain.proxyLogFile(2)}`);
      };
      await reported('before expiry');
      await sleep(Math.max(0, notAfter - Date.now()) + 3000);
      await reported('after expiry');
      const after = new HeldConnections(chain.target);
      const r = await after.open(5, { concurrency: 1, timeoutMs: 10_000 });
      await after.closeAll();
      if (r.opened > 0) findings.push(`after expiry ${r.opened}/5 connections still went through (not fail-closed)`);
      // Restore a valid credential.
      const next = await chain.chain.rotation.prepare();
      await next.replace();
      const serial = next.serial;
      const back = Date.now() + 30_000;
      let ok = 0;
      while (Date.now() < back) {
        const h = new HeldConnections(chain.target);
        ok = (await h.open(3, { concurrency: 1, timeoutMs: 5000 })).opened;
        await h.closeAll();
        if (ok === 3) break;
        await sleep(500);
      }
      if (ok !== 3) findings.push(`a fresh credential (serial ${serial}) did not restore service within 30 s`);
      const detail = `credential ${leaf.serialHex} valid ${lifetime} s; after expiry ${5 - r.opened}/5 connections refused; service restored with ${serial}`;
      if (findings.length > 0) throw new Error(`${findings.join('; ')} (${detail})`);
      return detail;
    },
  );
}
