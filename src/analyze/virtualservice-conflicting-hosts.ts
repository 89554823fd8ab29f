// Istio's virtualservice.ConflictingMeshGatewayHostsAnalyzer (IST0109): two VirtualServices bound to
// the mesh gateway that define the same host in the same export scope. meshgate also reports (MG0104)
// two VirtualServices with TCP or TLS routes claiming one host on the same named gateway: Istio merges
// HTTP routes there, but for L4 routes only one of them takes effect.
import type { Diagnostic } from '../config/diagnostics.js';
import type { ConfigSnapshot, VirtualService } from '../config/types.js';
import { IST, MG, report, shortOrFullName, type AnalyzeOptions } from './context.js';

export const name = 'virtualservice.ConflictingMeshGatewayHostsAnalyzer';
export const description =
  'no two VirtualServices claim one host on the mesh gateway, or L4 routes for one host on one gateway (IST0109, MG0104)';

function scopes(vs: VirtualService): string[] {
  const exportTo = vs.spec.exportTo ?? ['*'];
  if (exportTo.length === 0 || exportTo.includes('*')) return ['*'];
  return [...new Set(exportTo.map((e) => (e === '.' ? vs.metadata.namespace : e)))];
}

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const mesh = new Map<string, VirtualService[]>();
  const gateways = new Map<string, VirtualService[]>();
  for (const vs of snap.virtualServices) {
    const gws = vs.spec.gateways ?? [];
    const onMesh = gws.length === 0 || gws.includes('mesh');
    for (const h of vs.spec.hosts ?? []) {
      if (onMesh) for (const sc of scopes(vs)) mesh.set(`${sc}/${h}`, [...(mesh.get(`${sc}/${h}`) ?? []), vs]);
      if (!vs.spec.tcp && !vs.spec.tls) continue;
      for (const g of gws) {
        if (g === 'mesh') continue;
        const ref = shortOrFullName(vs.metadata.namespace, g);
        const k = `${ref.namespace}/${ref.name}|${h}`;
        gateways.set(k, [...(gateways.get(k) ?? []), vs]);
      }
    }
  }
  const out: Diagnostic[] = [];
  for (const [scoped, list] of mesh) {
    if (list.length < 2) continue;
    const names = list.map((v) => `${v.metadata.namespace}/${v.metadata.name}`).join(',');
    for (const vs of list)
      out.push(report(snap, vs, 'Error', 'IST0109', IST.conflictingMeshGatewayVirtualServiceHosts(names, scoped), 'metadata.name'));
  }
  for (const [k, list] of gateways) {
    if (list.length < 2) continue;
    const [gw, host] = k.split('|') as [string, string];
    const names = list.map((v) => `${v.metadata.namespace}/${v.metadata.name}`).join(',');
    for (const vs of list)
      out.push(
        report(
          snap,
          vs,
          'Warning',
          MG.ConflictingGatewayVirtualServiceHosts,
          `The VirtualServices ${names} bound to gateway ${gw} define TCP/TLS routes for the same host ${host}; only one of them takes effect. Merge them into one VirtualService.`,
          'metadata.name',
        ),
      );
  }
  return out;
}
