// Istio's gateway.IngressGatewayPortAnalyzer: a Gateway must select some workload (IST0101
// "selector"), and each server port must be exposed by a Service fronting that workload (IST0162).
// Istio's default egress gateway Service exposes 80 and 443 only, so a Gateway on 15443 needs a
// Service patch, as the seed's 13306 does on the ingress side. A server port counts as exposed when
// it is a Service port or its target port (the gateway listens on the target port when unprivileged).
import type { Diagnostic } from '../config/diagnostics.js';
import type { ConfigSnapshot } from '../config/types.js';
import { IST, report, selectorString, servicesForWorkloadSelector, workloadExists, type AnalyzeOptions } from './context.js';

export const name = 'gateway.IngressGatewayPortAnalyzer';
export const description = 'a Gateway selects a workload whose Service exposes each server port (IST0101, IST0162)';

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const gw of snap.gateways) {
    const selector = gw.spec.selector ?? {};
    const sel = selectorString(selector);
    if (sel === '') continue; // an empty selector picks every workload; nothing to check against
    if (!workloadExists(snap, selector)) {
      const firstKey = Object.keys(selector).sort()[0] as string;
      out.push(report(snap, gw, 'Error', 'IST0101', IST.referencedResourceNotFound('selector', sel), `spec.selector.${firstKey}`));
      continue;
    }
    const exposed = new Set<number>();
    for (const svc of servicesForWorkloadSelector(snap, selector)) {
      for (const p of svc.spec.ports ?? []) {
        if ((p.protocol ?? 'TCP') !== 'TCP') continue;
        exposed.add(p.port);
        if (typeof p.targetPort === 'number') exposed.add(p.targetPort);
      }
    }
    gw.spec.servers.forEach((s, i) => {
      if (!exposed.has(s.port.number))
        out.push(
          report(snap, gw, 'Warning', 'IST0162', IST.gatewayPortNotDefinedOnService(s.port.number, sel), `spec.servers[${i}].port.number`),
        );
    });
  }
  return out;
}
