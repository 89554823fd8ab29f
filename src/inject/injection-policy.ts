// Whether a Pod gets a sidecar, by Istio's rules (istio.io "Installing the sidecar", injection policy):
// if the namespace label `istio-injection` or the pod's `sidecar.istio.io/inject` says disabled, no; else
// if either says enabled, yes; else no. The pod's label wins over its (older) annotation of the same
// name. The API server applies the namespace half through the webhook's namespaceSelector (the
// AdmissionReview carries no namespace labels); when the caller knows them it passes them too.
import type { Pod } from './pod.js';

export const NAMESPACE_INJECTION_LABEL = 'istio-injection';
export const POD_INJECTION_KEY = 'sidecar.istio.io/inject';
export const SIDECAR_STATUS_ANNOTATION = 'sidecar.istio.io/status';
export const PROXY_CONTAINER = 'istio-proxy';
export const INIT_CONTAINER = 'istio-init';
/** Istio never injects into these, whatever their labels say. */
const IGNORED_NAMESPACES = new Set(['kube-system', 'kube-public']);

export type InjectionDecision = { inject: true } | { inject: false; reason: string };

/** Istio reads the value with Go's strconv-like truthiness: y, yes, true, on (any case). */
function truthy(v: string): boolean {
  return ['y', 'yes', 'true', 'on'].includes(v.toLowerCase());
}

/**
 * `namespaceLabels` undefined: the API server's namespaceSelector already chose this namespace (or the
 * object selector matched `sidecar.istio.io/inject=true`), so only the pod's own opt-out counts.
 */
export function injectionDecision(pod: Pod, namespace: string, namespaceLabels?: Record<string, string>): InjectionDecision {
  if (pod.spec.hostNetwork) return { inject: false, reason: 'the pod uses the host network' };
  if (IGNORED_NAMESPACES.has(namespace)) return { inject: false, reason: `namespace ${namespace} is never injected` };
  if (alreadyInjected(pod)) return { inject: false, reason: 'already injected' };
  const podValue = pod.metadata.labels?.[POD_INJECTION_KEY] ?? pod.metadata.annotations?.[POD_INJECTION_KEY];
  const nsValue = namespaceLabels?.[NAMESPACE_INJECTION_LABEL];
  if (nsValue === 'disabled') return { inject: false, reason: `namespace ${namespace} has ${NAMESPACE_INJECTION_LABEL}=disabled` };
  if (podValue !== undefined && !truthy(podValue)) return { inject: false, reason: `the pod has ${POD_INJECTION_KEY}: "${podValue}"` };
  if (podValue !== undefined) return { inject: true };
  if (namespaceLabels === undefined || nsValue === 'enabled') return { inject: true };
  return {
    inject: false,
    reason: `neither namespace ${namespace} (${NAMESPACE_INJECTION_LABEL}) nor the pod (${POD_INJECTION_KEY}) asks for injection`,
  };
}

/** Istio's test: the status annotation it writes, or a container by the proxy's name already present. */
export function alreadyInjected(pod: Pod): boolean {
  return pod.metadata.annotations?.[SIDECAR_STATUS_ANNOTATION] !== undefined || pod.spec.containers.some((c) => c.name === PROXY_CONTAINER);
}
