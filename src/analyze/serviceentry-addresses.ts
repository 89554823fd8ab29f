// Istio's serviceentry.ProtocolAddressesAnalyzer (IST0134): a ServiceEntry without addresses cannot
// be matched by destination IP for TCP (or unnamed) ports; DNS auto-allocation is not a meshgate
// feature, so the warning always applies.
import type { Diagnostic } from '../config/diagnostics.js';
import type { ConfigSnapshot } from '../config/types.js';
import { IST, report, type AnalyzeOptions } from './context.js';

export const name = 'serviceentry.ProtocolAddressesAnalyzer';
export const description = 'a ServiceEntry with TCP ports has addresses (IST0134)';

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const se of snap.serviceEntries) {
    if (se.spec.addresses && se.spec.addresses.length > 0) continue;
    (se.spec.ports ?? []).forEach((p, i) => {
      if (p.protocol === undefined || p.protocol === 'TCP')
        out.push(report(snap, se, 'Warning', 'IST0134', IST.serviceEntryAddressesRequired(), `spec.ports[${i}]`));
    });
  }
  return out;
}
