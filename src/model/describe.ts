// A person-readable account of what a proxy was given and why, for `proxy-config` and debugging:
// per cluster its discovery, balancing and TLS (with the places meshgate is stricter than Istio), per
// listener where each filter chain sends traffic. Built from the same builders as the resources.
import type { ConfigSnapshot } from '../config/types.js';
import type { ProxyNode } from '../envoy/node.js';
import { buildOutboundClusters, type BuiltCluster } from './clusters.js';
import { buildContext } from './context.js';
import { buildGatewayListeners } from './gateway-listeners.js';
import type { ModelOptions } from './gateway-identity.js';
import { byString } from './labels.js';
import { buildOutboundListeners } from './outbound-listeners.js';
import type { RouteTarget } from './routes.js';

export interface ResourceDescription {
  kind: 'cluster' | 'listener';
  name: string;
  summary: string;
  /** Where meshgate differs from Istio, or a configuration that cannot work as written. */
  warnings: string[];
}

function targetText(t: RouteTarget | undefined): string {
  if (!t) return 'nothing';
  const via = t.virtualService ? ` (VirtualService ${t.virtualService})` : '';
  const dest = t.clusters.length === 1 ? (t.clusters[0]?.name ?? '') : t.clusters.map((c) => `${c.name} ${c.weight}%`).join(', ');
  return `${dest}${via}`;
}

function clusterDescription(b: BuiltCluster): ResourceDescription {
  const c = b.cluster;
  const warnings: string[] = [];
  const discovery =
    c.type === 'EDS'
      ? 'EDS'
      : c.type === 'ORIGINAL_DST'
        ? 'original destination'
        : `${c.type} ${c.loadAssignment?.endpoints.flatMap((l) => l.lbEndpoints.map((e) => `${e.endpoint.address.socketAddress?.address}:${e.endpoint.address.socketAddress?.portValue}`)).join(' ') || '(no endpoints)'}`;
  let tls: string;
  const s = b.security;
  switch (s.kind) {
    case 'plaintext':
      tls = `plaintext (${s.why})`;
      break;
    case 'istio_mutual':
      tls = `ISTIO_MUTUAL${s.auto ? ' (auto mTLS)' : ''}, SNI ${s.sni}, peer must be ${s.sans.join(' or ') || 'any mesh identity'}`;
      break;
    case 'simple':
    case 'mutual': {
      const cred = s.credential ? `credential kubernetes://${s.credential}` : 'files mounted in the proxy';
      tls = `${s.kind.toUpperCase()} with ${cred}${s.sni ? `, SNI ${s.sni}` : ', no SNI'}`;
      if (s.sanSource === 'sni') {
        warnings.push(
          `server certificate must name ${s.sans.join(', ')} (the SNI): Istio checks no name here when subjectAltNames is empty (IST0128/IST0129); meshgate verifies it`,
        );
      } else if (s.sanSource === 'none') {
        warnings.push('no subjectAltNames and no SNI: the server certificate is checked against the CA only, any name accepted (as Istio)');
      } else {
        tls += `, server must be ${s.sans.join(' or ')}`;
      }
      break;
    }
    case 'fail_closed':
      tls = 'REFUSES CONNECTIONS';
      warnings.push(s.reason);
      break;
  }
  return { kind: 'cluster', name: c.name, summary: `${discovery}, ${c.lbPolicy ?? 'CLUSTER_PROVIDED'}, ${tls}`, warnings };
}

/** Descriptions of a proxy's outbound clusters and its outbound or gateway listeners, sorted by name. */
export function describeProxy(snapshot: ConfigSnapshot, node: ProxyNode, opts: ModelOptions = {}): ResourceDescription[] {
  const ctx = buildContext(snapshot, node, opts);
  const out: ResourceDescription[] = buildOutboundClusters(ctx).map(clusterDescription);
  const byListener = new Map<string, ResourceDescription>();
  const entry = (name: string): ResourceDescription => {
    let d = byListener.get(name);
    if (!d) byListener.set(name, (d = { kind: 'listener', name, summary: '', warnings: [] }));
    return d;
  };
  if (ctx.isRouter) {
    for (const n of buildGatewayListeners(ctx).notes) {
      const d = entry(n.listener);
      if (n.skipped) d.warnings.push(`${n.gateway} server ${n.server}: ${n.skipped}`);
      else
        d.summary += `${d.summary ? '; ' : ''}${n.gateway} ${n.mode}${n.serverNames ? ` SNI ${n.serverNames.join(',')}` : ''} → ${targetText(n.target)}`;
    }
  } else {
    for (const n of buildOutboundListeners(ctx).notes) {
      const d = entry(n.listener);
      if (n.shadowedBy)
        d.warnings.push(
          `${n.host}:${n.port} is unreachable here: ${n.shadowedBy} already holds this address and port and TCP has no SNI to tell them apart`,
        );
      else d.summary += `${d.summary ? '; ' : ''}${n.host}:${n.port} → ${targetText(n.target)}`;
      if (n.target.unknownHosts)
        d.warnings.push(`route names unknown host(s) ${n.target.unknownHosts.join(', ')}: sent to BlackHoleCluster`);
    }
  }
  out.push(...byListener.values());
  return out.sort((a, b) => byString(`${a.kind}/${a.name}`, `${b.kind}/${b.name}`));
}
