// The `Sidecar` resource that shapes one workload's proxy (Istio's SidecarScope): which services it
// sees (egress hosts `namespace/host`), what it does with unknown destinations, and — the form Istio
// uses without traffic capture — explicit ingress ports with the endpoint the application listens on.
import type { ConfigSnapshot, Sidecar } from '../config/types.js';
import type { ProxyNode } from '../envoy/node.js';
import { hostMatches } from '../config/hosts.js';
import { byString, labelsMatch } from './labels.js';
import type { MeshService } from './services.js';

export interface SidecarIngressPort {
  port: number;
  /** Where the application listens: `IP:PORT` (`0.0.0.0` means the pod's own address), Istio's defaultEndpoint. */
  endpoint?: { address: string; port: number };
  bind?: string;
}

export interface SidecarScope {
  /** `namespace/name` of the Sidecar in force, if any. */
  source?: string;
  egressHosts?: { namespace: string; host: string }[];
  outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  ingress: SidecarIngressPort[];
}

function selectorOf(s: Sidecar): Record<string, string> | undefined {
  // Istio's Sidecar names it `workloadSelector.labels`; accept `matchLabels` too.
  const ws = s.spec.workloadSelector as { labels?: Record<string, string>; matchLabels?: Record<string, string> } | undefined;
  const l = ws?.labels ?? ws?.matchLabels;
  return l && Object.keys(l).length > 0 ? l : undefined;
}

/** Istio's choice: a selector Sidecar in the workload's namespace, else that namespace's default, else the root namespace's. */
export function selectSidecar(snapshot: ConfigSnapshot, node: ProxyNode): Sidecar | undefined {
  const byName = (a: Sidecar, b: Sidecar): number => byString(a.metadata.name, b.metadata.name);
  const inNs = snapshot.sidecars.filter((s) => s.metadata.namespace === node.namespace).sort(byName);
  return (
    inNs.find((s) => {
      const sel = selectorOf(s);
      return sel !== undefined && labelsMatch(sel, node.labels);
    }) ??
    inNs.find((s) => selectorOf(s) === undefined) ??
    snapshot.sidecars
      .filter((s) => s.metadata.namespace === snapshot.meshConfig.rootNamespace && selectorOf(s) === undefined)
      .sort(byName)[0]
  );
}

function parseEndpoint(e: unknown): { address: string; port: number } | undefined {
  if (typeof e !== 'string') return undefined;
  const i = e.lastIndexOf(':');
  const port = Number(e.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined; // unix:// sockets are not supported
  return { address: e.slice(0, i), port };
}

export function sidecarScopeFor(snapshot: ConfigSnapshot, node: ProxyNode): SidecarScope {
  if (node.role !== 'sidecar') return { ingress: [] };
  const s = selectSidecar(snapshot, node);
  if (!s) return { ingress: [] };
  const ingress: SidecarIngressPort[] = [];
  for (const raw of s.spec.ingress ?? []) {
    const r = raw as { port?: { number?: number }; defaultEndpoint?: string; bind?: string };
    if (typeof r.port?.number !== 'number') continue;
    const endpoint = parseEndpoint(r.defaultEndpoint);
    ingress.push({ port: r.port.number, ...(endpoint ? { endpoint } : {}), ...(r.bind ? { bind: r.bind } : {}) });
  }
  const egressHosts = s.spec.egress?.flatMap((e) =>
    e.hosts.map((h) => {
      const [ns, host] = h.split('/') as [string, string];
      return { namespace: ns === '.' ? s.metadata.namespace : ns, host };
    }),
  );
  const policy = s.spec.outboundTrafficPolicy?.mode;
  return {
    source: `${s.metadata.namespace}/${s.metadata.name}`,
    ...(egressHosts && egressHosts.length > 0 ? { egressHosts } : {}),
    ...(policy ? { outboundTrafficPolicy: policy } : {}),
    ingress: ingress.sort((a, b) => a.port - b.port),
  };
}

/** Whether a Sidecar's egress hosts let the workload see a service (`*` any namespace, `~` none). */
export function sidecarAllows(scope: SidecarScope, svc: MeshService): boolean {
  if (!scope.egressHosts) return true;
  return scope.egressHosts.some(
    (h) => h.namespace !== '~' && (h.namespace === '*' || h.namespace === svc.namespace) && hostMatches(h.host, svc.hostname),
  );
}
