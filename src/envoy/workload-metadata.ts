// Who a workload is, for Istio's standard metric labels, and how the control plane tells a proxy about
// its peers. Istio learns a TCP peer's metadata by metadata exchange on the mTLS connection; meshgate
// takes the peer's verified SPIFFE identity and looks the rest up in what the control plane sent:
// - on an endpoint, Istio's own `filterMetadata.istio.workload`
//   ("workload;namespace;canonical-service;canonical-revision;cluster", revision empty for `latest`),
//   plus `filterMetadata.meshgate` {app, version} for the two labels Istio's string leaves out;
// - on a sidecar's inbound listeners, `filterMetadata.meshgate.peers`: the same record per SPIFFE
//   principal of the cluster's workloads (fields where workloads sharing a principal differ are unknown).
// Shared by the model (which writes it) and the proxy (which reads it).

export const UNKNOWN = 'unknown';

export interface WorkloadMetadata {
  workload: string;
  namespace: string;
  canonicalService: string;
  canonicalRevision: string;
  cluster: string;
  app: string;
  version: string;
}

/** Metadata as xDS carries it: `filterMetadata` of an endpoint, or one entry of a peer table. */
export interface EncodedWorkload {
  istio: { workload: string };
  meshgate?: { app?: string; version?: string };
}

/** The workload (Deployment) a pod belongs to, from its name as a ReplicaSet names pods (`name-<hash>-<5>`). */
export function workloadNameOfPod(podName: string): string {
  return podName.replace(/-[a-z0-9]{5,10}-[a-z0-9]{5}$/, '');
}

/** Istio's canonical service: the canonical-name label, else app.kubernetes.io/name, else app, else the workload. */
export function canonicalServiceOf(labels: Readonly<Record<string, string>>, workload: string): string {
  return labels['service.istio.io/canonical-name'] || labels['app.kubernetes.io/name'] || labels.app || workload;
}

/** Istio's canonical revision: the canonical-revision label, else app.kubernetes.io/version, else version, else latest. */
export function canonicalRevisionOf(labels: Readonly<Record<string, string>>): string {
  return labels['service.istio.io/canonical-revision'] || labels['app.kubernetes.io/version'] || labels.version || 'latest';
}

/** A workload's metadata from its pod name, namespace, labels and cluster; `unknown` where nothing says. */
export function workloadMetadataOf(w: {
  podName: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  cluster: string;
}): WorkloadMetadata {
  const workload = workloadNameOfPod(w.podName) || UNKNOWN;
  return {
    workload,
    namespace: w.namespace || UNKNOWN,
    canonicalService: canonicalServiceOf(w.labels, workload),
    canonicalRevision: canonicalRevisionOf(w.labels),
    cluster: w.cluster || UNKNOWN,
    app: w.labels.app || UNKNOWN,
    version: w.labels.version || UNKNOWN,
  };
}

/** For workloads that share one identity: each field kept where all agree, `unknown` where they differ. */
export function mergeWorkloadMetadata(all: readonly WorkloadMetadata[]): WorkloadMetadata {
  const first = all[0]!;
  const out = { ...first };
  for (const key of Object.keys(out) as (keyof WorkloadMetadata)[]) {
    if (all.some((m) => m[key] !== first[key])) out[key] = UNKNOWN;
  }
  return out;
}

export function encodeWorkloadMetadata(m: WorkloadMetadata): EncodedWorkload {
  const revision = m.canonicalRevision === 'latest' ? '' : m.canonicalRevision;
  const out: EncodedWorkload = { istio: { workload: [m.workload, m.namespace, m.canonicalService, revision, m.cluster].join(';') } };
  const extra = { ...(m.app !== UNKNOWN ? { app: m.app } : {}), ...(m.version !== UNKNOWN ? { version: m.version } : {}) };
  if (Object.keys(extra).length > 0) out.meshgate = extra;
  return out;
}

/** Reads `filterMetadata` (or a peer-table entry) back; undefined when it has no Istio workload string. */
export function decodeWorkloadMetadata(fm: Readonly<Record<string, unknown>> | undefined): WorkloadMetadata | undefined {
  const istio = fm?.istio as { workload?: unknown } | undefined;
  if (typeof istio?.workload !== 'string') return undefined;
  // Istio's own reader wants all five fields; fewer means the string is not one it wrote.
  const parts = istio.workload.split(';');
  if (parts.length < 5) return undefined;
  const [workload, namespace, canonicalService, revision, cluster] = parts as [string, string, string, string, string];
  const extra = fm?.meshgate as { app?: unknown; version?: unknown } | undefined;
  return {
    workload: workload || UNKNOWN,
    namespace: namespace || UNKNOWN,
    canonicalService: canonicalService || UNKNOWN,
    canonicalRevision: revision || 'latest',
    cluster: cluster || UNKNOWN,
    app: typeof extra?.app === 'string' && extra.app ? extra.app : UNKNOWN,
    version: typeof extra?.version === 'string' && extra.version ? extra.version : UNKNOWN,
  };
}

/** The SPIFFE principal of a workload: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`. */
export function spiffePrincipal(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
