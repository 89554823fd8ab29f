// Istio's destinationrule.SubsetSelectPodAnalyzer: a DestinationRule's host must be a Service or a
// ServiceEntry host visible from the rule's namespace (IST0174 UnknownDestinationRuleHost), and each
// subset must select some pod (IST0173 DestinationRuleSubsetNotSelectPods) — the subset's labels merged
// over the ServiceEntry's workloadSelector (a Service contributes no labels, as in Istio). Pods come
// from the input (or the lab); with no pods at all, as with files alone, IST0173 is not checked,
// since a live cluster's pods are unknown (Istio's file-only analyze would report every subset).
import type { Diagnostic } from '../config/diagnostics.js';
import { resolveShortHost } from '../config/hosts.js';
import type { ConfigSnapshot, DestinationRule } from '../config/types.js';
import { IST, labelsMatch, report, serviceFqdn, type AnalyzeOptions } from './context.js';

export const name = 'destinationrule.SubsetSelectPodAnalyzer';
export const description = "a DestinationRule's host is a known service and each subset selects some pod (IST0173, IST0174)";

interface Known {
  scope: string; // '*' or the namespace the host is visible in
  host: string;
  selector: Record<string, string>;
}

/** Istio's InitServiceEntryHostMap: every host with the namespaces it is exported to. */
function knownHosts(snap: ConfigSnapshot): Known[] {
  const out: Known[] = [];
  for (const se of snap.serviceEntries) {
    const ns = se.metadata.namespace;
    const exportTo = se.spec.exportTo ?? ['*'];
    const scopes = exportTo.length === 0 || exportTo.includes('*') ? ['*'] : exportTo.map((e) => (e === '.' ? ns : e));
    for (const h of se.spec.hosts)
      for (const scope of scopes)
        out.push({ scope, host: resolveShortHost(h, ns, snap.meshConfig.domainSuffix), selector: se.spec.workloadSelector?.labels ?? {} });
  }
  for (const svc of snap.services) {
    const anno = svc.metadata.annotations?.['networking.istio.io/exportTo'];
    const scopes = anno ? anno.split(',').map((s) => (s.trim() === '.' ? svc.metadata.namespace : s.trim())) : ['*'];
    for (const scope of scopes) out.push({ scope, host: serviceFqdn(svc, snap.meshConfig.domainSuffix), selector: {} });
  }
  return out;
}

/** Istio's GetDestinationHost: an exact visible host first, then a visible wildcard host covering it. */
function destinationHost(known: Known[], dr: DestinationRule): Known | undefined {
  const ns = dr.metadata.namespace;
  const scopes = new Set(['*', ns, ...(dr.spec.exportTo ?? []).map((e) => (e === '.' ? ns : e))]);
  const host = dr.spec.host;
  const exact = known.find((k) => scopes.has(k.scope) && k.host === host);
  if (exact) return exact;
  const bare = host.startsWith('*') ? host.slice(1) : host;
  return known.find((k) => k.host.startsWith('*') && (k.scope === '*' || k.scope === ns) && bare.endsWith(k.host.slice(1)));
}

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  const known = knownHosts(snap);
  for (const dr of snap.destinationRules) {
    const target = destinationHost(known, dr);
    if (!target) {
      out.push(report(snap, dr, 'Warning', 'IST0174', IST.unknownDestinationRuleHost(dr.spec.host), 'spec.host'));
      continue;
    }
    if (snap.pods.length === 0) continue;
    (dr.spec.subsets ?? []).forEach((s, i) => {
      const selector = { ...target.selector, ...(s.labels ?? {}) };
      if (!snap.pods.some((p) => labelsMatch(selector, p.metadata.labels)))
        out.push(report(snap, dr, 'Error', 'IST0173', IST.destinationRuleSubsetNotSelectPods(s.name), `spec.subsets[${i}].name`));
    });
  }
  return out;
}
