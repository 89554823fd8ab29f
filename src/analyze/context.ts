// What every analyzer needs: where an object (or one of its fields) came from, Istio's message
// templates, and the small lookups (services by host, workloads by selector) that analyzers share.
import type { Diagnostic, DiagnosticLevel } from '../config/diagnostics.js';
import { objectKey, type ConfigObject, type ConfigSnapshot, type Service } from '../config/types.js';

export interface AnalyzeOptions {
  /** Analyzer names to run (all when absent). */
  only?: readonly string[];
}

/** A diagnostic about `o`, positioned at `field` when the source knows where that field is. */
export function report(
  snap: ConfigSnapshot,
  o: ConfigObject,
  level: DiagnosticLevel,
  code: string,
  message: string,
  field?: string,
): Diagnostic {
  const key = objectKey(o);
  const src = snap.sources.get(key);
  const d: Diagnostic = { level, code, message, object: key };
  if (src) {
    d.file = src.file;
    const pos = field !== undefined ? bestPosition(src.positions, field) : undefined;
    d.line = pos?.line ?? src.line;
    d.column = pos?.column ?? src.column;
  }
  if (field !== undefined) d.field = field;
  return d;
}

/** The position of `field`, or of its closest ancestor that has one. */
function bestPosition(
  positions: ReadonlyMap<string, { line: number; column: number }> | undefined,
  field: string,
): { line: number; column: number } | undefined {
  if (!positions) return undefined;
  let f = field;
  for (let i = 0; i < 32 && f !== ''; i++) {
    const p = positions.get(f);
    if (p) return p;
    const cut = Math.max(f.lastIndexOf('.'), f.lastIndexOf('['));
    f = cut > 0 ? f.slice(0, cut) : '';
  }
  return undefined;
}

/** Istio's `labels.SelectorFromSet(...).String()`: `k1=v1,k2=v2`, sorted by key. */
export function selectorString(sel: Record<string, string> | undefined): string {
  return Object.keys(sel ?? {})
    .sort()
    .map((k) => `${k}=${(sel as Record<string, string>)[k]}`)
    .join(',');
}

export function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

export function serviceFqdn(s: Service, domainSuffix: string): string {
  return `${s.metadata.name}.${s.metadata.namespace}.svc.${domainSuffix}`;
}

export function findService(snap: ConfigSnapshot, fqdn: string): Service | undefined {
  return snap.services.find((s) => serviceFqdn(s, snap.meshConfig.domainSuffix) === fqdn.toLowerCase());
}

/**
 * Services that front the workloads a gateway `selector` picks. With pods in the snapshot this is
 * Istio's rule (services selecting a pod the gateway selects); without pods (files only), a Service
 * whose own selector includes the gateway's selector is taken to front those workloads.
 */
export function servicesForWorkloadSelector(snap: ConfigSnapshot, selector: Record<string, string>): Service[] {
  const pods = snap.pods.filter((p) => labelsMatch(selector, p.metadata.labels));
  if (pods.length > 0) {
    return snap.services.filter(
      (s) =>
        s.spec.selector &&
        Object.keys(s.spec.selector).length > 0 &&
        pods.some((p) => p.metadata.namespace === s.metadata.namespace && labelsMatch(s.spec.selector, p.metadata.labels)),
    );
  }
  return snap.services.filter((s) => s.spec.selector && Object.keys(s.spec.selector).length > 0 && labelsMatch(selector, s.spec.selector));
}

/** Does any pod, or any Service's selector, stand for a workload with these labels? */
export function workloadExists(snap: ConfigSnapshot, selector: Record<string, string>): boolean {
  return snap.pods.some((p) => labelsMatch(selector, p.metadata.labels)) || servicesForWorkloadSelector(snap, selector).length > 0;
}

/** `[ns/]name` as Istio's `resource.NewShortOrFullName`. */
export function shortOrFullName(defaultNs: string, ref: string): { namespace: string; name: string } {
  const slash = ref.indexOf('/');
  return slash < 0 ? { namespace: defaultNs, name: ref } : { namespace: ref.slice(0, slash), name: ref.slice(slash + 1) };
}

// Istio's message templates (pkg/config/analysis/msg/messages.yaml).
export const IST = {
  referencedResourceNotFound: (reftype: string, refval: string) => `Referenced ${reftype} not found: ${JSON.stringify(refval)}`,
  conflictingMeshGatewayVirtualServiceHosts: (vss: string, host: string) =>
    `The VirtualServices ${vss} associated with mesh gateway define the same host ${host} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.`,
  virtualServiceDestinationPortSelectorRequired: (host: string, ports: number[]) =>
    `This VirtualService routes to a service ${JSON.stringify(host)} that exposes multiple ports [${ports.join(' ')}]. Specifying a port in the destination is required to disambiguate.`,
  noServerCertificateVerificationDestinationLevel: (dr: string, ns: string, mode: string, host: string) =>
    `DestinationRule ${dr} in namespace ${ns} has TLS mode set to ${mode} but no caCertificates are set to validate server identity for host: ${host}`,
  noServerCertificateVerificationPortLevel: (dr: string, ns: string, mode: string, host: string, port: string) =>
    `DestinationRule ${dr} in namespace ${ns} has TLS mode set to ${mode} but no caCertificates are set to validate server identity for host: ${host} at port ${port}`,
  virtualServiceHostNotFoundInGateway: (hosts: string[], vs: string, gw: string) =>
    `one or more host [${hosts.join(' ')}] defined in VirtualService ${vs} not found in Gateway ${gw}.`,
  serviceEntryAddressesRequired: () => 'ServiceEntry addresses are required for this protocol.',
  conflictingGateways: (gws: string, selector: string, port: string, hosts: string) =>
    `Conflict with gateways ${gws} (workload selector ${selector}, port ${port}, hosts ${hosts}).`,
  invalidGatewayCredential: (name: string, ns: string) =>
    `The credential referenced by the Gateway ${name} in namespace ${ns} is invalid, which can cause the traffic not to work as expected.`,
  noMatchingWorkloadsFound: (labels: string) => `No matching workloads for this resource with the following labels: ${labels}`,
  virtualServiceUnreachableRule: (ruleno: string, reason: string) => `VirtualService rule ${ruleno} not used (${reason}).`,
  virtualServiceIneffectiveMatch: (ruleno: string, matchno: string, dupno: string) =>
    `VirtualService rule ${ruleno} match ${matchno} is not used (duplicate/overlapping match in rule ${dupno}).`,
  destinationRuleSubsetNotSelectPods: (subset: string) =>
    `The Subset ${subset} defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).`,
  unknownDestinationRuleHost: (host: string) => `The host ${host} defined in the DestinationRule does not match any services in the mesh.`,
  portNameIsNotUnderNamingConvention: (portName: string, port: number, targetPort: string) =>
    `Port name ${portName} (port: ${port}, targetPort: ${targetPort}) doesn't follow the naming convention of Istio port.`,
  gatewayPortNotDefinedOnService: (port: number, selector: string) =>
    `The gateway is listening on a target port (port ${port}) that is not defined in the Service associated with its workload instances (Pod selector ${selector}). If you need to access the gateway port through the gateway Service, it will not be available.`,
};

/** meshgate's own analyzer codes, for checks Istio does not have. */
export const MG = {
  TlsModeMismatch: 'MG0103',
  ConflictingGatewayVirtualServiceHosts: 'MG0104',
} as const;
