// Istio's virtualservice.DestinationHostAnalyzer: each route destination must name a known host — a
// Service or a ServiceEntry host (IST0101 "host") — and name a port when the service has several
// (IST0112 VirtualServiceDestinationPortSelectorRequired).
import type { Diagnostic } from '../config/diagnostics.js';
import { hostMatches } from '../config/hosts.js';
import type { ConfigSnapshot } from '../config/types.js';
import { IST, findService, report, type AnalyzeOptions } from './context.js';
import { routeDestinations } from './routes.js';

export const name = 'virtualservice.DestinationHostAnalyzer';
export const description = 'each route destination names a known host, and a port when it has several (IST0101, IST0112)';

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const vs of snap.virtualServices) {
    for (const d of routeDestinations(vs)) {
      const host = d.destination.host;
      const svc = findService(snap, host);
      const se = snap.serviceEntries.find((e) => e.spec.hosts.some((h) => hostMatches(h, host)));
      if (!svc && !se) {
        out.push(report(snap, vs, 'Error', 'IST0101', IST.referencedResourceNotFound('host', host), `${d.field}.destination.host`));
        continue;
      }
      if (d.destination.port?.number !== undefined) continue;
      const ports = svc ? (svc.spec.ports ?? []).map((p) => p.port) : (se?.spec.ports ?? []).map((p) => p.number);
      if (ports.length > 1)
        out.push(
          report(snap, vs, 'Error', 'IST0112', IST.virtualServiceDestinationPortSelectorRequired(host, ports), `${d.field}.destination`),
        );
    }
  }
  return out;
}
