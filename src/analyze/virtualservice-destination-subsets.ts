// Istio's virtualservice.DestinationRuleAnalyzer: a route destination naming a subset needs a
// DestinationRule for that host that defines the subset (IST0101 "host+subset in destinationrule").
import type { Diagnostic } from '../config/diagnostics.js';
import type { ConfigSnapshot } from '../config/types.js';
import { IST, report, type AnalyzeOptions } from './context.js';
import { routeDestinations } from './routes.js';

export const name = 'virtualservice.DestinationRuleAnalyzer';
export const description = 'each subset a route names is defined by a DestinationRule for its host (IST0101)';

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const subsets = new Set<string>();
  for (const dr of snap.destinationRules) for (const s of dr.spec.subsets ?? []) subsets.add(`${dr.spec.host}+${s.name}`);
  const out: Diagnostic[] = [];
  for (const vs of snap.virtualServices) {
    for (const d of routeDestinations(vs)) {
      if (!d.destination.subset) continue;
      if (!subsets.has(`${d.destination.host}+${d.destination.subset}`)) {
        out.push(
          report(
            snap,
            vs,
            'Error',
            'IST0101',
            IST.referencedResourceNotFound('host+subset in destinationrule', `${d.destination.host}+${d.destination.subset}`),
            `${d.field}.destination.subset`,
          ),
        );
      }
    }
  }
  return out;
}
