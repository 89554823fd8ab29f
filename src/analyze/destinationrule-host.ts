// meshgate's check (MG0101): a DestinationRule whose host matches no Service and no ServiceEntry host
// applies to nothing — usually a typo or a short name resolved in the wrong namespace.
import type { Diagnostic } from '../config/diagnostics.js';
import { hostMatches } from '../config/hosts.js';
import type { ConfigSnapshot } from '../config/types.js';
import { MG, report, serviceFqdn, type AnalyzeOptions } from './context.js';

export const name = 'destinationrule.HostAnalyzer';
export const description = "a DestinationRule's host matches a Service or ServiceEntry host (MG0101)";

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const hosts = [...snap.services.map((s) => serviceFqdn(s, snap.meshConfig.domainSuffix)), ...snap.serviceEntries.flatMap((se) => se.spec.hosts)];
  const out: Diagnostic[] = [];
  for (const dr of snap.destinationRules) {
    if (hosts.some((h) => hostMatches(dr.spec.host, h))) continue;
    out.push(report(snap, dr, 'Warning', MG.DestinationRuleHostNotFound, `DestinationRule host "${dr.spec.host}" matches no Service and no ServiceEntry host; the rule applies to nothing`, 'spec.host'));
  }
  return out;
}
