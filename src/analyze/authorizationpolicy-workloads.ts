// Istio's auth.AuthorizationPoliciesAnalyzer (IST0127 NoMatchingWorkloadsFound): a policy whose
// selector picks no workload protects nothing. In the root namespace a selector may match a workload
// in any namespace and a selector-less policy is mesh-wide (never reported); elsewhere the workload
// must be in the policy's namespace, and a selector-less policy needs some workload there. Without a
// live cluster a workload is a Pod in the input or a Service selector standing for one.
import type { Diagnostic } from '../config/diagnostics.js';
import type { ConfigSnapshot } from '../config/types.js';
import { IST, labelsMatch, report, selectorString, type AnalyzeOptions } from './context.js';

export const name = 'auth.AuthorizationPoliciesAnalyzer';
export const description = 'an AuthorizationPolicy selects some workload (IST0127)';

function workloadLabels(snap: ConfigSnapshot, namespace: string | undefined): Record<string, string>[] {
  const pods = snap.pods.filter((p) => namespace === undefined || p.metadata.namespace === namespace).map((p) => p.metadata.labels ?? {});
  const services = snap.services
    .filter((s) => (namespace === undefined || s.metadata.namespace === namespace) && Object.keys(s.spec.selector ?? {}).length > 0)
    .map((s) => s.spec.selector as Record<string, string>);
  return [...pods, ...services];
}

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const ap of snap.authorizationPolicies) {
    const ns = ap.metadata.namespace;
    const meshWide = ns === snap.meshConfig.rootNamespace;
    const selector = ap.spec.selector;
    if (!selector) {
      if (!meshWide && workloadLabels(snap, ns).length === 0)
        out.push(report(snap, ap, 'Warning', 'IST0127', IST.noMatchingWorkloadsFound(''), 'metadata.name'));
      continue;
    }
    const sel = selector.matchLabels ?? {};
    if (!workloadLabels(snap, meshWide ? undefined : ns).some((labels) => labelsMatch(sel, labels)))
      out.push(report(snap, ap, 'Warning', 'IST0127', IST.noMatchingWorkloadsFound(selectorString(sel)), 'spec.selector'));
  }
  return out;
}
