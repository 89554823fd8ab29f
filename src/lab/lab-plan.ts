// The lab's plan, computed before anything starts (pure): every pod (gateways included) with its
// identity and addresses, each cluster's control-plane address, and what each pod's /etc/hosts says.
// netns mode: cluster k's pods on 198.18.k.0/24 (the bridge namespace, where the control plane runs, is
// .1), gateways also on the "WAN" 198.19.0.0/24. loopback mode: every pod its own 127.b.k.n address.
// The host reaches each pod's admin port at 127.b.k.n through a relay in the pod's namespace (netns) or
// at 127.b.(100+k).n.
// netns mode with DNS capture (what `lab up` does): each cluster's DNS server (kube-dns's role) answers
// the lab file's `dns:` names on the bridge address, port 53, and the pods' hosts files no longer list
// them: sidecar pods resolve through their sidecar's DNS proxy, gateways through the cluster DNS.
import type { LabFile, LabWorkload } from './lab-file.js';

export type LabMode = 'netns' | 'loopback';

export interface PlannedPod {
  cluster: string;
  clusterIndex: number;
  /** Index of the pod inside its cluster (host byte of its addresses). */
  index: number;
  name: string;
  namespace: string;
  serviceAccount: string;
  labels: Record<string, string>;
  ports: number[];
  sidecar: boolean;
  kind: 'gateway' | 'workload';
  gateway?: 'ingress' | 'egress';
  run?: LabWorkload['run'];
  /** The pod IP (Pod status.podIP, the proxy's INSTANCE_IPS). */
  address: string;
  /** netns mode, gateways only: the address on the WAN between clusters. */
  wanAddress?: string;
  /**
   * Where the proxy binds admin (loopback only). netns: 127.0.0.1 inside the pod's namespace (the pod's
   * relay reaches it; stats and readiness listen on the pod address). loopback: an address of its own,
   * 127.b.(100+k).n, for admin, stats and readiness, because in NONE mode the pod address carries the
   * sidecar's outbound listeners, which may use any port (15021 included).
   */
  adminAddress: string;
  /** Loopback address on the host where this pod's proxy admin is reachable. */
  hostAddress: string;
  /** netns mode: the network namespace's name. */
  netns?: string;
}

export interface PlannedCluster {
  name: string;
  index: number;
  trustDomain: string;
  /** Where proxies reach the control plane (ADS + CA). */
  controlPlaneAddress: string;
  /** Where the host reaches the control plane's HTTP port. */
  controlPlaneHostAddress: string;
  /** netns mode: the namespace holding the cluster's bridge and its control plane. */
  netns?: string;
  subnet?: string;
  /** netns mode: where the cluster's DNS server listens (port 53), the nameserver of every pod's resolv.conf. */
  dnsAddress?: string;
}

export interface LabPlan {
  labId: string;
  mode: LabMode;
  /** Second octet of every 127.b.k.n address this lab uses on the host. */
  loopbackOctet: number;
  clusters: PlannedCluster[];
  pods: PlannedPod[];
  /** netns mode: the namespace holding the WAN bridge. */
  wanNetns?: string;
  /** Per pod (`cluster/namespace/name`), the lines of its /etc/hosts. */
  hosts: Map<string, string>;
  /** netns mode: names resolve by DNS (cluster DNS servers, sidecar DNS proxies), not hosts files. */
  dnsCapture: boolean;
  /** netns mode: per cluster, the `dns:` names its DNS server answers (host → address seen from that cluster). */
  clusterDnsNames: Map<string, Record<string, string>>;
}

export interface PlanOptions {
  /** netns mode only: resolve the lab's `dns:` names by DNS instead of hosts files (default false). */
  dnsCapture?: boolean;
}

export const GATEWAYS = [
  {
    gateway: 'ingress' as const,
    name: 'istio-ingressgateway',
    serviceAccount: 'istio-ingressgateway-service-account',
    labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
  },
  {
    gateway: 'egress' as const,
    name: 'istio-egressgateway',
    serviceAccount: 'istio-egressgateway-service-account',
    labels: { app: 'istio-egressgateway', istio: 'egressgateway' },
  },
];

export function podKey(p: Pick<PlannedPod, 'cluster' | 'namespace' | 'name'>): string {
  return `${p.cluster}/${p.namespace}/${p.name}`;
}

/** A lab id: short enough for interface and namespace names, random enough for labs running side by side. */
export function newLabId(random: () => number = Math.random): string {
  return `mg${Math.floor(random() * 0xffffff)
    .toString(16)
    .padStart(6, '0')}`;
}

/** The 127.b.0.0/16 block a lab uses on the host: derived from its id, away from 127.0.x.x. */
export function loopbackOctetFor(labId: string): number {
  let h = 0;
  for (const ch of labId) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return 20 + (h % 230);
}

export function planLab(lab: LabFile, mode: LabMode, labId: string, opts: PlanOptions = {}): LabPlan {
  const b = loopbackOctetFor(labId);
  if (lab.clusters.length > 20) throw new RangeError('the lab supports at most 20 clusters');
  const clusters: PlannedCluster[] = [];
  const pods: PlannedPod[] = [];
  lab.clusters.forEach((c, i) => {
    const k = i + 1;
    const netns = mode === 'netns' ? `${labId}-${k}-net` : undefined;
    clusters.push({
      name: c.name,
      index: k,
      trustDomain: c.trustDomain,
      controlPlaneAddress: mode === 'netns' ? `198.18.${k}.1` : `127.${b}.${k}.1`,
      controlPlaneHostAddress: `127.${b}.${k}.1`,
      ...(netns ? { netns, subnet: `198.18.${k}.0/24`, dnsAddress: `198.18.${k}.1` } : {}),
    });
    const make = (
      index: number,
      w: Omit<PlannedPod, 'cluster' | 'clusterIndex' | 'index' | 'address' | 'adminAddress' | 'hostAddress' | 'netns' | 'wanAddress'>,
    ): PlannedPod => ({
      ...w,
      cluster: c.name,
      clusterIndex: k,
      index,
      address: mode === 'netns' ? `198.18.${k}.${index}` : `127.${b}.${k}.${index}`,
      adminAddress: mode === 'netns' ? '127.0.0.1' : `127.${b}.${100 + k}.${index}`,
      hostAddress: mode === 'netns' ? `127.${b}.${k}.${index}` : `127.${b}.${100 + k}.${index}`,
      ...(mode === 'netns' ? { netns: `${labId}-${k}-${index}` } : {}),
      ...(mode === 'netns' && w.kind === 'gateway' ? { wanAddress: `198.19.0.${k * 10 + (w.gateway === 'ingress' ? 1 : 2)}` } : {}),
    });
    GATEWAYS.forEach((g, gi) => {
      pods.push(
        make(2 + gi, {
          name: g.name,
          namespace: 'istio-system',
          serviceAccount: g.serviceAccount,
          labels: { ...g.labels },
          ports: [],
          sidecar: true,
          kind: 'gateway',
          gateway: g.gateway,
        }),
      );
    });
    if (c.workloads.length > 240) throw new RangeError(`cluster ${c.name}: at most 240 workloads`);
    c.workloads.forEach((w, wi) => {
      pods.push(
        make(10 + wi, {
          name: w.name,
          namespace: w.namespace,
          serviceAccount: w.serviceAccount ?? 'default',
          labels: { ...w.labels },
          ports: [...w.ports],
          sidecar: w.sidecar,
          kind: 'workload',
          ...(w.run ? { run: w.run } : {}),
        }),
      );
    });
  });
  const dnsCapture = mode === 'netns' && opts.dnsCapture === true;
  const plan: LabPlan = {
    labId,
    mode,
    loopbackOctet: b,
    clusters,
    pods,
    hosts: new Map(),
    dnsCapture,
    clusterDnsNames: new Map(),
    ...(mode === 'netns' ? { wanNetns: `${labId}-wan` } : {}),
  };
  for (const pod of pods) plan.hosts.set(podKey(pod), hostsFileFor(plan, lab, pod));
  if (mode === 'netns') {
    for (const c of clusters) {
      // Every pod of a cluster sees a name the same way in netns mode; ask as the cluster's first pod.
      const from = pods.find((p) => p.cluster === c.name)!;
      const names: Record<string, string> = {};
      for (const host of Object.keys(lab.dns).sort()) {
        const addr = resolveDnsName(plan, lab, host, from);
        if (addr) names[host] = addr;
      }
      plan.clusterDnsNames.set(c.name, names);
    }
  }
  return plan;
}

/** Resolves a `dns:` entry for one pod: the address that pod should connect to for that name. */
export function resolveDnsName(plan: LabPlan, lab: LabFile, host: string, from: PlannedPod): string | undefined {
  const target = lab.dns[host];
  if (!target) return undefined;
  // loopback mode has no capture: a pod with a sidecar reaches every mesh name through its sidecar's
  // outbound listener on the pod's own address (what Istio's DNS proxy + iptables achieve in netns mode).
  if (plan.mode === 'loopback' && from.kind === 'workload' && from.sidecar) return from.address;
  const pod =
    'gateway' in target
      ? plan.pods.find((p) => p.cluster === target.cluster && p.gateway === target.gateway)
      : plan.pods.find((p) => p.cluster === target.cluster && p.kind === 'workload' && p.name === target.workload);
  if (!pod) return undefined;
  // A gateway is reached from outside its cluster on its public (WAN) address.
  if (plan.mode === 'netns' && pod.wanAddress && pod.cluster !== from.cluster) return pod.wanAddress;
  return pod.address;
}

function hostsFileFor(plan: LabPlan, lab: LabFile, pod: PlannedPod): string {
  const lines = ['127.0.0.1\tlocalhost', `${pod.address}\t${pod.name}`];
  // With DNS capture the names come from the cluster DNS server or the sidecar's DNS proxy.
  if (plan.dnsCapture) return `${lines.join('\n')}\n`;
  for (const host of Object.keys(lab.dns).sort()) {
    const addr = resolveDnsName(plan, lab, host, pod);
    if (addr) lines.push(`${addr}\t${host}`);
  }
  return `${lines.join('\n')}\n`;
}
