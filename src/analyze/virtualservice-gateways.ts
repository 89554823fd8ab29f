// Istio's virtualservice.GatewayAnalyzer: every gateway a VirtualService names must exist (IST0101),
// and the VirtualService's hosts must be among that gateway's hosts (IST0132). As in Istio, a missing
// gateway has no hosts, so it gets both: IST0101 says it is missing, IST0132 what it would have to serve.
import type { Diagnostic } from '../config/diagnostics.js';
import { hostMatches, splitNamespacedHost } from '../config/hosts.js';
import type { ConfigSnapshot } from '../config/types.js';
import { IST, report, shortOrFullName, type AnalyzeOptions } from './context.js';

export const name = 'virtualservice.GatewayAnalyzer';
export const description = 'each gateway a VirtualService names exists and serves its hosts (IST0101, IST0132)';

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const vs of snap.virtualServices) {
    const ns = vs.metadata.namespace;
    (vs.spec.gateways ?? []).forEach((gwRef, i) => {
      if (gwRef === 'mesh') return;
      const ref = shortOrFullName(ns, gwRef);
      const gw = snap.gateways.find((g) => g.metadata.namespace === ref.namespace && g.metadata.name === ref.name);
      if (!gw) out.push(report(snap, vs, 'Error', 'IST0101', IST.referencedResourceNotFound('gateway', gwRef), `spec.gateways[${i}]`));
      const gwHosts: string[] = [];
      for (const s of gw?.spec.servers ?? []) {
        for (const h of s.hosts) {
          const nh = splitNamespacedHost(h, ref.namespace);
          if (nh.namespace === '*' || nh.namespace === ns) gwHosts.push(nh.host);
        }
      }
      const vsHosts = vs.spec.hosts ?? [];
      if (!gwHosts.some((gh) => vsHosts.some((vh) => hostMatches(gh, vh)))) {
        out.push(
          report(
            snap,
            vs,
            'Warning',
            'IST0132',
            IST.virtualServiceHostNotFoundInGateway(vsHosts, `${ns}/${vs.metadata.name}`, `${ref.namespace}/${ref.name}`),
            `spec.gateways[${i}]`,
          ),
        );
      }
    });
  }
  return out;
}
