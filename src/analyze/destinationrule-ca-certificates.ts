// Istio's destinationrule.CaCertificateAnalyzer: SIMPLE or MUTUAL origination without caCertificates
// does not verify the server (IST0128 at destination level, IST0129 per port). As in Istio, a
// credentialName counts only when the rule has a workloadSelector.
import type { Diagnostic } from '../config/diagnostics.js';
import type { ClientTLSSettings, ConfigSnapshot } from '../config/types.js';
import { IST, report, type AnalyzeOptions } from './context.js';

export const name = 'destinationrule.CaCertificateAnalyzer';
export const description = 'SIMPLE or MUTUAL origination names caCertificates to verify the server (IST0128, IST0129)';

function unverified(tls: ClientTLSSettings | undefined, hasSelector: boolean): tls is ClientTLSSettings {
  if (!tls || (tls.mode !== 'SIMPLE' && tls.mode !== 'MUTUAL')) return false;
  return !tls.caCertificates && !(tls.credentialName && hasSelector);
}

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const dr of snap.destinationRules) {
    const ns = dr.metadata.namespace;
    const name = dr.metadata.name;
    const sel = dr.spec.workloadSelector !== undefined;
    const tp = dr.spec.trafficPolicy;
    if (unverified(tp?.tls, sel))
      out.push(
        report(
          snap,
          dr,
          'Warning',
          'IST0128',
          IST.noServerCertificateVerificationDestinationLevel(name, ns, tp?.tls?.mode ?? '', dr.spec.host),
          'spec.trafficPolicy.tls.mode',
        ),
      );
    (tp?.portLevelSettings ?? []).forEach((p, i) => {
      if (!unverified(p.tls, sel)) return;
      // Istio prints the PortSelector message as protobuf text: `number:13306`.
      out.push(
        report(
          snap,
          dr,
          'Warning',
          'IST0129',
          IST.noServerCertificateVerificationPortLevel(name, ns, p.tls.mode ?? '', dr.spec.host, `number:${p.port?.number ?? 0}`),
          `spec.trafficPolicy.portLevelSettings[${i}].tls.mode`,
        ),
      );
    });
  }
  return out;
}
