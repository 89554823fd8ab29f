// Istio's gateway.ConflictingGatewayAnalyzer (IST0145): two Gateways with the same workload selector
// and port whose server hosts overlap.
import type { Diagnostic } from '../config/diagnostics.js';
import { hostMatches } from '../config/hosts.js';
import type { ConfigSnapshot } from '../config/types.js';
import { IST, report, selectorString, type AnalyzeOptions } from './context.js';

export const name = 'gateway.ConflictingGatewayAnalyzer';
export const description = 'no two Gateways share a workload selector, port and overlapping hosts (IST0145)';

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const byKey = new Map<string, { gw: string; hosts: string[] }[]>();
  for (const gw of snap.gateways) {
    const sel = selectorString(gw.spec.selector);
    for (const s of gw.spec.servers) {
      const k = `${sel}~${s.port.number}`;
      byKey.set(k, [...(byKey.get(k) ?? []), { gw: `${gw.metadata.namespace}/${gw.metadata.name}`, hosts: s.hosts }]);
    }
  }
  const out: Diagnostic[] = [];
  for (const gw of snap.gateways) {
    const me = `${gw.metadata.namespace}/${gw.metadata.name}`;
    const sel = selectorString(gw.spec.selector);
    gw.spec.servers.forEach((s, i) => {
      const others = (byKey.get(`${sel}~${s.port.number}`) ?? []).filter(
        (o) => o.gw !== me && s.hosts.some((h) => o.hosts.some((oh) => hostMatches(stripNs(h), stripNs(oh)))),
      );
      if (others.length === 0) return;
      out.push(
        report(
          snap,
          gw,
          'Error',
          'IST0145',
          IST.conflictingGateways([...new Set(others.map((o) => o.gw))].join(','), sel, String(s.port.number), s.hosts.join(',')),
          `spec.servers[${i}]`,
        ),
      );
    });
  }
  return out;
}

function stripNs(h: string): string {
  const slash = h.indexOf('/');
  return slash < 0 ? h : h.slice(slash + 1);
}
