// Istio's ValidateDestinationRule (pkg/config/validation and agent.ValidateTLS): subsets, traffic
// policies at every level and client TLS settings. Messages are Istio's.
import { checkWorkloadSelector, isDns1123Label, type Checker, type Seg } from './report.js';

interface ClientTls {
  mode?: string;
  clientCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  caCrl?: string;
  credentialName?: string;
  subjectAltNames?: string[];
  insecureSkipVerify?: boolean;
}
type Policy = Record<string, unknown> & {
  tls?: ClientTls;
  portLevelSettings?: (Record<string, unknown> & { port?: { number?: number }; tls?: ClientTls })[];
};

export function checkDestinationRule(c: Checker, spec: Record<string, unknown>): void {
  checkTrafficPolicy(c, spec.trafficPolicy as Policy | undefined, ['spec', 'trafficPolicy']);
  const subsets = (spec.subsets ?? []) as { name: string; trafficPolicy?: Policy }[];
  const seen = new Set<string>();
  subsets.forEach((s, i) => {
    const at: Seg[] = ['spec', 'subsets', i];
    if (seen.has(s.name)) c.error([...at, 'name'], `duplicate subset names: ${s.name}`);
    seen.add(s.name);
    // Subset names become part of Envoy cluster names (`outbound|port|subset|host`).
    if (s.name === '') c.error([...at, 'name'], 'subset name cannot be empty');
    else if (!isDns1123Label(s.name)) c.error([...at, 'name'], `subset name is invalid: ${s.name}`);
    checkTrafficPolicy(c, s.trafficPolicy, [...at, 'trafficPolicy']);
  });
  const ws = spec.workloadSelector as { matchLabels?: Record<string, string> } | undefined;
  checkWorkloadSelector(c, ws?.matchLabels, ['spec', 'workloadSelector'], ws !== undefined);
}

function checkTrafficPolicy(c: Checker, tp: Policy | undefined, at: Seg[]): void {
  if (!tp) return;
  if (Object.keys(tp).length === 0) {
    c.error(at, 'traffic policy must have at least one field');
    return;
  }
  if (tp.tunnel && tp.proxyProtocol) {
    c.error(at, 'tunnel and proxyProtocol must not be set together');
    return;
  }
  checkClientTls(c, tp.tls, [...at, 'tls']);
  const seen = new Map<number, number>();
  (tp.portLevelSettings ?? []).forEach((p, i) => {
    const pat: Seg[] = [...at, 'portLevelSettings', i];
    if (p.port?.number === undefined) c.error(pat, 'portTrafficPolicy must have valid port');
    // meshgate's own check: two settings for one port would leave the choice to list order.
    else if (seen.has(p.port.number))
      c.error([...pat, 'port', 'number'], `port ${p.port.number} already has settings in portLevelSettings[${seen.get(p.port.number)}]`);
    else seen.set(p.port.number, i);
    const { port: _port, ...rest } = p;
    if (Object.keys(rest).length === 0) c.error(pat, 'port traffic policy must have at least one field');
    else checkClientTls(c, p.tls, [...pat, 'tls']);
  });
}

function checkClientTls(c: Checker, tls: ClientTls | undefined, at: Seg[]): void {
  if (!tls) return;
  if (tls.insecureSkipVerify) {
    if (tls.mode === 'SIMPLE' && (tls.caCertificates || tls.credentialName || tls.subjectAltNames))
      c.error(
        [...at, 'insecureSkipVerify'],
        'cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true',
      );
    if (tls.mode === 'MUTUAL' && (tls.caCertificates || tls.subjectAltNames))
      c.error([...at, 'insecureSkipVerify'], 'cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true');
  }
  if ((tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL') && tls.credentialName) {
    // The credential (a Secret) carries the certificates, the CA and the CRL: files beside it are ambiguous.
    if (tls.clientCertificate || tls.caCertificates || tls.privateKey || tls.caCrl)
      c.error([...at, 'credentialName'], 'cannot specify client certificates or CA certificate or CA CRL If credentialName is set');
    return;
  }
  if (tls.mode === 'MUTUAL') {
    if (!tls.clientCertificate)
      c.error(
        [...at, 'clientCertificate'],
        'client certificate required for mutual tls: set credentialName, or clientCertificate and privateKey',
      );
    if (!tls.privateKey)
      c.error([...at, 'privateKey'], 'private key required for mutual tls: set credentialName, or clientCertificate and privateKey');
  }
}
