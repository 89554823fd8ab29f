// Istio's ValidateVirtualService (pkg/config/validation) for the parts meshgate reads: hosts, gateway
// names, delegate rules, and the tcp/tls routes. HTTP routes are checked by the schema only (meshgate's
// data plane does not serve them). Messages are Istio's.
import { hostMatches, hostSubsetOf } from '../hosts.js';
import { ipSubnetProblem, isDns1123Label, isIpAddress, type Checker, type Seg } from './report.js';

interface RouteDestination {
  destination?: { host?: string };
  weight?: number;
}
interface L4Match {
  destinationSubnets?: string[];
  gateways?: string[];
  sniHosts?: string[];
}
interface Route {
  match?: L4Match[];
  route?: RouteDestination[];
}

export function checkVirtualService(c: Checker, spec: Record<string, unknown>): void {
  const hosts = (spec.hosts ?? []) as string[];
  const gateways = (spec.gateways ?? []) as string[];
  const tcp = (spec.tcp ?? []) as Route[];
  const tls = (spec.tls ?? []) as Route[];
  const http = (spec.http ?? []) as unknown[];
  if (hosts.length === 0) {
    // No hosts: a delegate, which only HTTP routes of another VirtualService can reach.
    if (gateways.length > 0) c.error(['spec', 'gateways'], 'delegate virtual service must have no gateways specified');
    if (tls.length > 0) c.error(['spec', 'tls'], 'delegate virtual service must have no tls route specified');
    if (tcp.length > 0) c.error(['spec', 'tcp'], 'delegate virtual service must have no tcp route specified');
  }
  gateways.forEach((g, i) => checkGatewayName(c, g, ['spec', 'gateways', i]));
  // Without `mesh` among its gateways the VirtualService applies to gateways only.
  const appliesToMesh = gateways.length === 0 || gateways.includes('mesh');
  let allHostsValid = true;
  hosts.forEach((h, i) => {
    if (appliesToMesh && h === '*') {
      c.error(['spec', 'hosts', i], 'wildcard host * is not allowed for virtual services bound to the mesh gateway');
      allHostsValid = false;
    }
  });
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        if (hostMatches(hosts[i] as string, hosts[j] as string))
          c.error(['spec', 'hosts', j], `duplicate hosts in virtual service: ${hosts[i]} & ${hosts[j]}`);
      }
    }
  }
  if (http.length === 0 && tcp.length === 0 && tls.length === 0) c.error(['spec'], 'http, tcp or tls must be provided in virtual service');
  tls.forEach((r, i) => {
    const at: Seg[] = ['spec', 'tls', i];
    (r.match ?? []).forEach((m, j) => {
      checkL4Match(c, m, [...at, 'match', j]);
      (m.sniHosts ?? []).forEach((sni, k) => checkSniHost(c, sni, hosts, [...at, 'match', j, 'sniHosts', k]));
    });
    if (!r.route || r.route.length === 0) c.error([...at, 'route'], 'TLS route is required');
    checkRouteDestinations(c, r.route ?? [], [...at, 'route']);
  });
  tcp.forEach((r, i) => {
    const at: Seg[] = ['spec', 'tcp', i];
    (r.match ?? []).forEach((m, j) => checkL4Match(c, m, [...at, 'match', j]));
    if (!r.route || r.route.length === 0) c.error([...at, 'route'], 'TCP route is required');
    checkRouteDestinations(c, r.route ?? [], [...at, 'route']);
  });
}

function checkL4Match(c: Checker, m: L4Match, at: Seg[]): void {
  (m.destinationSubnets ?? []).forEach((s, k) => {
    const problem = ipSubnetProblem(s);
    if (problem) c.error([...at, 'destinationSubnets', k], problem);
  });
  (m.gateways ?? []).forEach((g, k) => checkGatewayName(c, g, [...at, 'gateways', k]));
}

function checkSniHost(c: Checker, sni: string, hosts: string[], at: Seg[]): void {
  if (isIpAddress(sni)) {
    c.warn(at, `using an IP address (${JSON.stringify(sni)}) goes against SNI spec and most clients do not support this`);
    return;
  }
  // The SNI must fall under one of the VirtualService's hosts, or the route can never be selected.
  if (hosts.some((h) => hostSubsetOf(sni, h))) return;
  c.error(at, `SNI host ${JSON.stringify(sni)} is not a compatible subset of any of the virtual service hosts: [${hosts.join(', ')}]`);
}

/** `namespace/name`, or a bare name (a legacy `name.namespace` is warned about). */
function checkGatewayName(c: Checker, g: string, at: Seg[]): void {
  const slash = g.indexOf('/');
  if (slash < 0) {
    if (g.includes('.')) {
      const parts = g.split('.');
      c.warn(
        at,
        `using legacy gatewayName format ${JSON.stringify(g)}; prefer the <namespace>/<name> format: ${JSON.stringify(`${parts[1]}/${parts[0]}`)}`,
      );
    }
    return;
  }
  const ns = g.slice(0, slash);
  const name = g.slice(slash + 1);
  if (ns === '' || name === '') c.error(at, 'config namespace and gateway name cannot be empty');
  if (!isDns1123Label(ns)) c.error(at, `invalid value for namespace: ${JSON.stringify(ns)}`);
  if (!isDns1123Label(name)) c.error(at, `invalid value for gateway name: ${JSON.stringify(name)}`);
}

function checkRouteDestinations(c: Checker, route: RouteDestination[], at: Seg[]): void {
  // Weights that add up to 0 send nothing anywhere; one destination without a weight takes it all.
  const total = route.reduce((n, r) => n + (r.weight ?? 0), 0);
  if (route.length > 1 && total === 0) c.error(at, 'total destination weight = 0');
}
