// meshgate's check (MG0102): a ServiceEntry with DNS resolution needs names a resolver can look up —
// its endpoints' addresses, or its hosts when there are no endpoints, and a wildcard is not one.
// DNS_ROUND_ROBIN takes exactly one endpoint, as Istio's validation requires.
import type { Diagnostic } from '../config/diagnostics.js';
import type { ConfigSnapshot } from '../config/types.js';
import { MG, report, type AnalyzeOptions } from './context.js';

export const name = 'serviceentry.DnsResolutionAnalyzer';
export const description = 'a DNS-resolved ServiceEntry has names a resolver can look up (MG0102)';

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const se of snap.serviceEntries) {
    const res = se.spec.resolution;
    if (res !== 'DNS' && res !== 'DNS_ROUND_ROBIN') continue;
    const eps = se.spec.endpoints ?? [];
    if (eps.length === 0) {
      se.spec.hosts.forEach((h, i) => {
        if (h.startsWith('*')) out.push(report(snap, se, 'Error', MG.ServiceEntryDnsUnresolvable, `host "${h}" is a wildcard, which ${res} resolution cannot look up; add endpoints or use resolution NONE`, `spec.hosts[${i}]`));
      });
    }
    eps.forEach((ep, i) => {
      const a = ep.address;
      if (a === undefined || a === '') out.push(report(snap, se, 'Error', MG.ServiceEntryDnsUnresolvable, `endpoint has no address to resolve`, `spec.endpoints[${i}]`));
      else if (a.includes('*')) out.push(report(snap, se, 'Error', MG.ServiceEntryDnsUnresolvable, `endpoint address "${a}" is a wildcard, which DNS cannot resolve`, `spec.endpoints[${i}].address`));
      else if (a.startsWith('unix://')) out.push(report(snap, se, 'Error', MG.ServiceEntryDnsUnresolvable, `endpoint address "${a}" is a Unix socket, which ${res} resolution cannot use`, `spec.endpoints[${i}].address`));
    });
    if (res === 'DNS_ROUND_ROBIN' && eps.length > 1) out.push(report(snap, se, 'Error', MG.ServiceEntryDnsUnresolvable, `resolution DNS_ROUND_ROBIN takes exactly one endpoint, found ${eps.length}`, 'spec.endpoints'));
  }
  return out;
}
