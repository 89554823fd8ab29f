// Istio's gateway.SecretAnalyzer and its credential checks: a server's `credentialName` must name a
// Secret in the namespace of the gateway's workload (IST0101 "credentialName"), and that Secret must
// hold a usable credential in a format Istio reads (IST0161 InvalidGatewayCredential).
import { X509Certificate } from 'node:crypto';
import type { Diagnostic } from '../config/diagnostics.js';
import type { ConfigSnapshot, Secret } from '../config/types.js';
import { IST, report, servicesForWorkloadSelector, type AnalyzeOptions } from './context.js';

export const name = 'gateway.SecretAnalyzer';
export const description = "a server's credentialName names a usable Secret in the gateway's namespace (IST0101, IST0161)";

export interface SecretAnalyzeOptions extends AnalyzeOptions {
  /** The time certificates are checked against; now by default. */
  now?: Date;
}

/** What is wrong with a credential Secret, or undefined when Istio could use it. */
export function credentialProblem(secret: Secret, needsCa: boolean, caSecret: Secret | undefined, now: Date): string | undefined {
  const d = secret.data;
  const cert = d['tls.crt'] ?? d.cert;
  const key = d['tls.key'] ?? d.key;
  if (!cert || !key) return `Secret ${secret.metadata.namespace}/${secret.metadata.name} has neither tls.crt/tls.key nor cert/key`;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    return `the certificate in Secret ${secret.metadata.namespace}/${secret.metadata.name} cannot be parsed: ${(err as Error).message}`;
  }
  if (new Date(x509.validTo).getTime() < now.getTime())
    return `the certificate in Secret ${secret.metadata.namespace}/${secret.metadata.name} expired on ${new Date(x509.validTo).toISOString()}`;
  if (new Date(x509.validFrom).getTime() > now.getTime())
    return `the certificate in Secret ${secret.metadata.namespace}/${secret.metadata.name} is not valid before ${new Date(x509.validFrom).toISOString()}`;
  if (needsCa && !d['ca.crt'] && !d.cacert && !(caSecret && (caSecret.data['ca.crt'] ?? caSecret.data.cacert)))
    return `MUTUAL TLS needs a CA certificate: Secret ${secret.metadata.namespace}/${secret.metadata.name} has no ca.crt or cacert, and there is no ${secret.metadata.name}-cacert Secret`;
  return undefined;
}

export function analyze(snap: ConfigSnapshot, opts?: SecretAnalyzeOptions): Diagnostic[] {
  const now = opts?.now ?? new Date();
  const out: Diagnostic[] = [];
  for (const gw of snap.gateways) {
    const services = servicesForWorkloadSelector(snap, gw.spec.selector ?? {});
    const pods = snap.pods.filter((p) => Object.entries(gw.spec.selector ?? {}).every(([k, v]) => p.metadata.labels?.[k] === v));
    const ns = pods[0]?.metadata.namespace ?? services[0]?.metadata.namespace;
    if (ns === undefined) continue; // no workload: gateway.IngressGatewayPortAnalyzer reports the selector
    gw.spec.servers.forEach((s, i) => {
      const tls = s.tls;
      if (!tls || tls.mode === 'ISTIO_MUTUAL' || tls.mode === 'PASSTHROUGH' || tls.mode === 'AUTO_PASSTHROUGH') return;
      const names = tls.credentialName ? [tls.credentialName] : (tls.credentialNames ?? []);
      names.forEach((cn, j) => {
        const field = tls.credentialName ? `spec.servers[${i}].tls.credentialName` : `spec.servers[${i}].tls.credentialNames[${j}]`;
        const secret = snap.secrets.find((x) => x.metadata.namespace === ns && x.metadata.name === cn);
        if (!secret) {
          out.push(report(snap, gw, 'Error', 'IST0101', IST.referencedResourceNotFound('credentialName', cn), field));
          return;
        }
        const caSecret = snap.secrets.find((x) => x.metadata.namespace === ns && x.metadata.name === `${cn}-cacert`);
        const problem = credentialProblem(secret, tls.mode === 'MUTUAL' || tls.mode === 'OPTIONAL_MUTUAL', caSecret, now);
        if (problem)
          out.push(
            report(
              snap,
              gw,
              'Error',
              'IST0161',
              `${IST.invalidGatewayCredential(gw.metadata.name, gw.metadata.namespace)} (${problem})`,
              field,
            ),
          );
      });
    });
  }
  return out;
}
