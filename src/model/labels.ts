// Label selection and the "has a proxy" test that auto mTLS depends on.
import type { Pod } from '../config/types.js';

/** Kubernetes `matchLabels` semantics: every selector label is present with the same value. An empty selector matches all. */
export function labelsMatch(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) {
    if (labels?.[k] !== v) return false;
  }
  return true;
}

/** Istio's label on workloads that terminate mesh mTLS (`security.istio.io/tlsMode: istio`). */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';
/** The annotation Istio's sidecar injector writes on every pod it injects. */
export const SIDECAR_STATUS_ANNOTATION = 'sidecar.istio.io/status';

/**
 * Whether a pod runs a mesh proxy that accepts ISTIO_MUTUAL: the injector's `sidecar.istio.io/status`
 * annotation, or Istio's endpoint label `security.istio.io/tlsMode: istio` (what Istio itself keys
 * auto mTLS on). Gateway pods carry the label in Istio's gateway injection template.
 */
export function podHasProxy(pod: Pod): boolean {
  if (pod.metadata.labels?.[TLS_MODE_LABEL] === 'istio') return true;
  return pod.metadata.annotations?.[SIDECAR_STATUS_ANNOTATION] !== undefined;
}

/** A pod's first IP, or undefined while it has none (not scheduled, or finished). */
export function podIp(pod: Pod): string | undefined {
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return undefined;
  return pod.status?.podIP ?? pod.status?.podIPs?.[0]?.ip;
}

/**
 * Whether a pod may receive traffic, as the EndpointSlice controller marks an endpoint ready: its
 * `Ready` condition is `True`. A pod with no conditions at all (written in a config folder, never run
 * by a kubelet) counts as ready.
 */
export function podReady(pod: Pod): boolean {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  return ready === undefined || ready.status === 'True';
}

/** Lexicographic comparison for deterministic ordering. */
export function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
