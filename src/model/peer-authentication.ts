// PeerAuthentication resolution as Istio's authn policy applier does it: a workload-selected policy in
// the workload's namespace, else the namespace-wide one, else the mesh-wide one in the root namespace;
// UNSET inherits from the next level; the default is PERMISSIVE. `portLevelMtls` (keyed by the
// workload's port) applies only on selector policies, as Istio validates.
import type { ConfigSnapshot, PeerAuthentication, PeerAuthenticationMode } from '../config/types.js';
import { byString, labelsMatch } from './labels.js';

export type EffectiveMtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

function oldestFirst(list: PeerAuthentication[]): PeerAuthentication[] {
  return list.sort((a, b) => byString(a.metadata.name, b.metadata.name));
}

function known(m: PeerAuthenticationMode | undefined): EffectiveMtlsMode | undefined {
  return m === 'STRICT' || m === 'PERMISSIVE' || m === 'DISABLE' ? m : undefined;
}

/** The mTLS mode a workload (namespace + labels) enforces on one of its ports. */
export function peerAuthenticationMode(
  snapshot: ConfigSnapshot,
  namespace: string,
  labels: Record<string, string>,
  port?: number,
): EffectiveMtlsMode {
  const root = snapshot.meshConfig.rootNamespace;
  const inNs = snapshot.peerAuthentications.filter((p) => p.metadata.namespace === namespace);
  const workload = oldestFirst(
    inNs.filter(
      (p) =>
        p.spec.selector?.matchLabels &&
        Object.keys(p.spec.selector.matchLabels).length > 0 &&
        labelsMatch(p.spec.selector.matchLabels, labels),
    ),
  )[0];
  const nsWide = oldestFirst(inNs.filter((p) => !p.spec.selector?.matchLabels || Object.keys(p.spec.selector.matchLabels).length === 0))[0];
  const meshWide = oldestFirst(
    snapshot.peerAuthentications.filter(
      (p) => p.metadata.namespace === root && (!p.spec.selector?.matchLabels || Object.keys(p.spec.selector.matchLabels).length === 0),
    ),
  )[0];
  if (workload && port !== undefined) {
    const pm = known(workload.spec.portLevelMtls?.[String(port)]?.mode);
    if (pm) return pm;
  }
  return known(workload?.spec.mtls?.mode) ?? known(nsWide?.spec.mtls?.mode) ?? known(meshWide?.spec.mtls?.mode) ?? 'PERMISSIVE';
}
