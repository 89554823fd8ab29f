// Finding the running lab and, in it, a proxy by its pod name, as istioctl finds a pod by
// `POD[.NAMESPACE]`: the lab's state file records every pod's admin address and its cluster's
// control plane, which is what `proxy-config` and `proxy-status POD` need.
import os from 'node:os';
import path from 'node:path';
import { attachLab, type LabSummary } from '../lab/lab.js';
import { findDefaultStateDirs } from '../lab/state-dir.js';
import { loadLabFile } from '../lab/lab-file.js';

export class LabLocateError extends Error {
  constructor(
    readonly code: 'E_LAB_CLI' | 'E_POD_NOT_FOUND',
    message: string,
  ) {
    super(message);
    this.name = 'LabLocateError';
  }
}

/** The state dir: --state-dir, else the lab file's default, else the one lab running from the temp dir. */
export function resolveStateDir(dir: string | undefined, stateDir: string | undefined): string {
  if (stateDir) return path.resolve(stateDir);
  const name = dir ? loadLabFile(dir).name : undefined;
  const candidates = findDefaultStateDirs(name);
  if (candidates.length === 1) return candidates[0]!;
  const which = name ? `lab ${name}` : 'a lab';
  if (candidates.length === 0)
    throw new LabLocateError('E_LAB_CLI', `no state dir of ${which} found in ${os.tmpdir()}; give the lab folder or --state-dir`);
  throw new LabLocateError('E_LAB_CLI', `several state dirs of ${which}: ${candidates.join(', ')}; give --state-dir`);
}

/**
 * `POD[.NAMESPACE]` as istioctl reads it: the namespace is what follows the last dot; without one,
 * `defaultNamespace` (istioctl: the -n flag, else the context's namespace, usually `default`).
 */
export function parsePodRef(ref: string, defaultNamespace = 'default'): { name: string; namespace: string } {
  const dot = ref.lastIndexOf('.');
  if (dot <= 0 || dot === ref.length - 1) return { name: ref, namespace: defaultNamespace };
  return { name: ref.slice(0, dot), namespace: ref.slice(dot + 1) };
}

export interface LabProxyTarget {
  name: string;
  namespace: string;
  cluster: string;
  /** The proxy's admin (Envoy's 15000), reachable from the host. */
  adminUrl: string;
  /** Its cluster's control plane monitoring address (/debug/syncz, /debug/config_dump). */
  controlPlaneUrl?: string;
}

export interface LabLocateOptions {
  /** -n: the namespace when the reference has none. */
  namespace?: string;
  /** The lab cluster, when the pod name exists in several (each cluster has its istio-ingressgateway). */
  cluster?: string;
  stateDir?: string;
  lab?: string;
}

/** The proxy of pod `ref` in a lab summary; errors name what exists, so a typo is easy to fix. */
export function findProxyInSummary(
  summary: LabSummary,
  ref: string,
  opts: Pick<LabLocateOptions, 'namespace' | 'cluster'> = {},
): LabProxyTarget {
  const { name, namespace } = parsePodRef(ref, opts.namespace);
  if (opts.cluster !== undefined && !summary.clusters.some((c) => c.name === opts.cluster)) {
    throw new LabLocateError(
      'E_POD_NOT_FOUND',
      `lab ${summary.name} has no cluster "${opts.cluster}" (clusters: ${summary.clusters.map((c) => c.name).join(', ')})`,
    );
  }
  const matches = summary.proxies.filter(
    (p) => p.name === name && p.namespace === namespace && (opts.cluster === undefined || p.cluster === opts.cluster),
  );
  if (matches.length === 0) {
    const known = summary.proxies
      .filter((p) => opts.cluster === undefined || p.cluster === opts.cluster)
      .map((p) => `${p.name}.${p.namespace}`);
    throw new LabLocateError(
      'E_POD_NOT_FOUND',
      `no proxy for pod ${name}.${namespace}${opts.cluster ? ` in cluster ${opts.cluster}` : ''} in lab ${summary.name} (pods with a proxy: ${[...new Set(known)].sort().join(', ')})`,
    );
  }
  if (matches.length > 1) {
    throw new LabLocateError(
      'E_POD_NOT_FOUND',
      `pod ${name}.${namespace} runs in several clusters (${matches.map((p) => p.cluster).join(', ')}): choose one with --lab-cluster`,
    );
  }
  const p = matches[0]!;
  const cp = summary.clusters.find((c) => c.name === p.cluster)?.controlPlaneUrl;
  return { name: p.name, namespace: p.namespace, cluster: p.cluster, adminUrl: p.adminUrl, ...(cp ? { controlPlaneUrl: cp } : {}) };
}

/** The proxy of pod `ref` in the running lab (--state-dir, the lab folder, or the only lab running). */
export function findLabProxy(ref: string, opts: LabLocateOptions = {}): LabProxyTarget {
  const stateDir = resolveStateDir(opts.lab, opts.stateDir);
  const { exec: _exec, down: _down, ...summary } = attachLab(stateDir);
  return findProxyInSummary(summary, ref, opts);
}
