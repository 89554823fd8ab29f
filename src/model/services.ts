// The service registry the model translates from: Kubernetes Services and ServiceEntries merged into
// one list of hosts with ports, addresses and endpoints (Istio's model.Service + ServiceInstances).
import type { ConfigSnapshot, Pod, Service, ServiceEntry, WorkloadEntrySpec } from '../config/types.js';
import { resolveShortHost } from '../config/hosts.js';
import { protocolFromPortName } from '../config/protocol.js';
import { byString, labelsMatch, podHasProxy, podIp, podReady, TLS_MODE_LABEL } from './labels.js';

export interface MeshServicePort {
  port: number;
  name: string;
  /** Istio's protocol (TCP, TLS, HTTP, ...); undecided ports are TCP for meshgate's L4 data plane. */
  protocol: string;
  /** Kubernetes targetPort (number or container port name); undefined means the same number. */
  targetPort?: number | string;
}

/** A ServiceEntry's resolution as validated, or EDS for a Kubernetes Service. DYNAMIC_DNS is not served:
 *  its hosts are wildcards, which get no cluster of their own (`clusters.ts`); validation warns MG0012. */
export type MeshResolution = 'EDS' | 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'DYNAMIC_DNS';

export interface MeshService {
  hostname: string;
  namespace: string;
  /** The Service's name, or for a ServiceEntry the host itself (as Istio's cluster metadata names it). */
  name: string;
  registry: 'Kubernetes' | 'External';
  ports: MeshServicePort[];
  /** Cluster IP(s) or a ServiceEntry's addresses (single IPs, not CIDRs). */
  vips: string[];
  /** CIDR ranges from a ServiceEntry's addresses. */
  cidrs: string[];
  resolution: MeshResolution;
  location: 'MESH_INTERNAL' | 'MESH_EXTERNAL';
  exportTo?: readonly string[];
  /** Kubernetes selector, or a ServiceEntry's workloadSelector labels. */
  selector?: Record<string, string>;
  subjectAltNames?: readonly string[];
  entry?: ServiceEntry;
  service?: Service;
}

/** One backend of a service port: an address, the port to dial and what auto mTLS needs to know. */
export interface ServiceEndpoint {
  address: string;
  port: number;
  labels: Record<string, string>;
  /** Whether the endpoint terminates ISTIO_MUTUAL (a pod with a proxy, or a WorkloadEntry labelled tlsMode=istio). */
  hasProxy: boolean;
  serviceAccount?: string;
  namespace: string;
  pod?: Pod;
  weight?: number;
  locality?: string;
}

export function isExportedTo(exportTo: readonly string[] | undefined, ownNamespace: string, toNamespace: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || e === toNamespace || (e === '.' && ownNamespace === toNamespace));
}

function isIp(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || (s.includes(':') && !s.includes('/'));
}

function fromService(svc: Service, domainSuffix: string): MeshService | undefined {
  if (svc.spec.type === 'ExternalName') return undefined; // not an L4 backend meshgate can route to
  const clusterIp = svc.spec.clusterIP;
  const vips = clusterIp && clusterIp !== 'None' ? [clusterIp] : [];
  const ports: MeshServicePort[] = (svc.spec.ports ?? []).map((p) => ({
    port: p.port,
    name: p.name ?? `port-${p.port}`,
    protocol: protocolFromPortName(p.name, p.appProtocol, p.protocol) ?? 'TCP',
    ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
  }));
  return {
    hostname: `${svc.metadata.name}.${svc.metadata.namespace}.svc.${domainSuffix}`,
    namespace: svc.metadata.namespace,
    name: svc.metadata.name,
    registry: 'Kubernetes',
    ports,
    vips,
    cidrs: [],
    // A headless Service (clusterIP None) is Istio's ORIGINAL_DST passthrough service.
    resolution: clusterIp === 'None' ? 'NONE' : 'EDS',
    location: 'MESH_INTERNAL',
    ...(svc.spec.selector ? { selector: svc.spec.selector } : {}),
    service: svc,
  };
}

function fromServiceEntry(se: ServiceEntry, domainSuffix: string): MeshService[] {
  const addresses = se.spec.addresses ?? [];
  return se.spec.hosts.map((h) => ({
    hostname: resolveShortHost(h, se.metadata.namespace, domainSuffix),
    namespace: se.metadata.namespace,
    name: h,
    registry: 'External' as const,
    ports: (se.spec.ports ?? []).map((p) => ({
      port: p.number,
      name: p.name,
      protocol: (p.protocol ?? protocolFromPortName(p.name) ?? 'TCP').toUpperCase(),
      ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
    })),
    vips: addresses.filter((a) => isIp(a)),
    cidrs: addresses.filter((a) => a.includes('/')),
    resolution: se.spec.resolution ?? 'NONE',
    location: se.spec.location ?? 'MESH_EXTERNAL',
    ...(se.spec.exportTo ? { exportTo: se.spec.exportTo } : {}),
    ...(se.spec.workloadSelector?.labels ? { selector: se.spec.workloadSelector.labels } : {}),
    ...(se.spec.subjectAltNames ? { subjectAltNames: se.spec.subjectAltNames } : {}),
    entry: se,
  }));
}

/**
 * Every service host in the snapshot, deduplicated by host name (Kubernetes first, then ServiceEntries
 * in namespace/name order, as Istio keeps the oldest), sorted by host name.
 */
export function buildServiceRegistry(snapshot: ConfigSnapshot): MeshService[] {
  const suffix = snapshot.meshConfig.domainSuffix;
  const byHost = new Map<string, MeshService>();
  const services = [...snapshot.services].sort((a, b) =>
    byString(`${a.metadata.namespace}/${a.metadata.name}`, `${b.metadata.namespace}/${b.metadata.name}`),
  );
  for (const s of services) {
    const m = fromService(s, suffix);
    if (m && !byHost.has(m.hostname)) byHost.set(m.hostname, m);
  }
  const entries = [...snapshot.serviceEntries].sort((a, b) =>
    byString(`${a.metadata.namespace}/${a.metadata.name}`, `${b.metadata.namespace}/${b.metadata.name}`),
  );
  for (const se of entries) {
    for (const m of fromServiceEntry(se, suffix)) if (!byHost.has(m.hostname)) byHost.set(m.hostname, m);
  }
  return [...byHost.values()].sort((a, b) => byString(a.hostname, b.hostname));
}

/** Services a proxy in `namespace` may see (exportTo). */
export function visibleServices(registry: readonly MeshService[], namespace: string): MeshService[] {
  return registry.filter((s) => isExportedTo(s.exportTo, s.namespace, namespace));
}

function containerPortByName(pod: Pod, name: string): number | undefined {
  for (const c of pod.spec.containers ?? []) for (const p of c.ports ?? []) if (p.name === name) return p.containerPort;
  return undefined;
}

function podEndpoint(pod: Pod, port: number): ServiceEndpoint | undefined {
  const ip = podIp(pod);
  if (!ip) return undefined;
  return {
    address: ip,
    port,
    labels: pod.metadata.labels ?? {},
    hasProxy: podHasProxy(pod),
    serviceAccount: pod.spec.serviceAccountName ?? 'default',
    namespace: pod.metadata.namespace,
    pod,
  };
}

function workloadEntryEndpoint(se: ServiceEntry, we: WorkloadEntrySpec, port: MeshServicePort, host: string): ServiceEndpoint {
  const labels = we.labels ?? {};
  return {
    // A DNS ServiceEntry endpoint without an address stands for the host itself.
    address: we.address ?? host,
    // Istio's per-endpoint port remapping: `ports: {tls: 13306}` keyed by the ServiceEntry port's name.
    port: we.ports?.[port.name] ?? (typeof port.targetPort === 'number' ? port.targetPort : port.port),
    labels,
    hasProxy: labels[TLS_MODE_LABEL] === 'istio',
    ...(we.serviceAccount ? { serviceAccount: we.serviceAccount } : {}),
    namespace: se.metadata.namespace,
    ...(we.weight !== undefined ? { weight: we.weight } : {}),
    ...(we.locality !== undefined ? { locality: we.locality } : {}),
  };
}

/**
 * The endpoints behind one port of a service, optionally narrowed to a subset's labels, in a
 * deterministic order (by address, then port). `pods` are the pods of the service's namespace.
 * (`service-endpoints.ts` memoises this per snapshot.)
 */
export function computeEndpoints(
  pods: readonly Pod[],
  svc: MeshService,
  port: MeshServicePort,
  subsetLabels?: Record<string, string>,
): ServiceEndpoint[] {
  const out: ServiceEndpoint[] = [];
  // Kubernetes leaves a pod that is not Ready out of the Service's endpoints unless the Service asks
  // for every address (publishNotReadyAddresses); Istio's EDS follows the EndpointSlices.
  const everyAddress = svc.service?.spec.publishNotReadyAddresses === true;
  const selectPods = (selector: Record<string, string>, targetPort: number | string | undefined): void => {
    for (const pod of pods) {
      if (pod.metadata.namespace !== svc.namespace) continue;
      if (!everyAddress && !podReady(pod)) continue;
      if (!labelsMatch(selector, pod.metadata.labels)) continue;
      if (!labelsMatch(subsetLabels, pod.metadata.labels)) continue;
      const p = typeof targetPort === 'string' ? containerPortByName(pod, targetPort) : (targetPort ?? port.port);
      if (p === undefined) continue; // named targetPort the pod does not declare: Kubernetes leaves it out too
      const ep = podEndpoint(pod, p);
      if (ep) out.push(ep);
    }
  };
  if (svc.registry === 'Kubernetes') {
    if (svc.selector) selectPods(svc.selector, port.targetPort);
  } else if (svc.entry) {
    const se = svc.entry;
    if (se.spec.workloadSelector?.labels) {
      selectPods(se.spec.workloadSelector.labels, port.targetPort);
    } else if (se.spec.endpoints && se.spec.endpoints.length > 0) {
      for (const we of se.spec.endpoints) {
        const ep = workloadEntryEndpoint(se, we, port, svc.hostname);
        if (labelsMatch(subsetLabels, ep.labels)) out.push(ep);
      }
    } else if (svc.resolution === 'DNS' || svc.resolution === 'DNS_ROUND_ROBIN') {
      // Istio resolves the host itself when a DNS ServiceEntry lists no endpoints.
      if (!subsetLabels || Object.keys(subsetLabels).length === 0) {
        out.push({
          address: svc.hostname,
          port: typeof port.targetPort === 'number' ? port.targetPort : port.port,
          labels: {},
          hasProxy: false,
          namespace: svc.namespace,
        });
      }
    }
  }
  return out.sort((a, b) => byString(a.address, b.address) || a.port - b.port);
}

/** SPIFFE identities of a service's backends (`endpointsOf` each port), for ISTIO_MUTUAL SAN checks. */
export function computeIdentities(
  svc: MeshService,
  trustDomain: string,
  endpointsOf: (port: MeshServicePort) => readonly ServiceEndpoint[],
): string[] {
  const ids = new Set<string>();
  for (const port of svc.ports) {
    for (const ep of endpointsOf(port)) {
      if (ep.serviceAccount) ids.add(`spiffe://${trustDomain}/ns/${ep.namespace}/sa/${ep.serviceAccount}`);
    }
  }
  for (const san of svc.subjectAltNames ?? []) ids.add(san);
  return [...ids].sort(byString);
}

const hostIndexes = new WeakMap<readonly MeshService[], Map<string, MeshService>>();

export function findService(registry: readonly MeshService[], hostname: string): MeshService | undefined {
  let byHost = hostIndexes.get(registry);
  if (!byHost) {
    byHost = new Map();
    // The first service of a host wins, as a linear search would find it.
    for (const s of registry) if (!byHost.has(s.hostname)) byHost.set(s.hostname, s);
    hostIndexes.set(registry, byHost);
  }
  return byHost.get(hostname);
}
