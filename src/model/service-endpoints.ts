// A service's endpoints and identities as the builders ask for them: computed once per snapshot and
// service port (subset) in the push context, since every proxy of a mesh asks the same questions.
import type { ConfigSnapshot } from '../config/types.js';
import { byString } from './labels.js';
import { pushContext } from './push-context.js';
import { computeEndpoints, computeIdentities, type MeshService, type MeshServicePort, type ServiceEndpoint } from './services.js';

/**
 * The endpoints behind one port of a service, optionally narrowed to a subset's labels, in a
 * deterministic order (by address, then port). The list is shared, so callers must not change it.
 */
export function serviceEndpoints(
  snapshot: ConfigSnapshot,
  svc: MeshService,
  port: MeshServicePort,
  subsetLabels?: Record<string, string>,
): readonly ServiceEndpoint[] {
  const push = pushContext(snapshot);
  const compute = (): ServiceEndpoint[] => computeEndpoints(push.podsIn(svc.namespace), svc, port, subsetLabels);
  // The registry's own service object for this host; another object (a caller's copy) is not memoised.
  if (push.serviceByHost.get(svc.hostname) !== svc) return compute();
  const subsetKey = subsetLabels ? JSON.stringify(Object.entries(subsetLabels).sort((a, b) => byString(a[0], b[0]))) : '';
  return push.memo(`endpoints|${svc.hostname}|${port.port}|${port.name}|${subsetKey}`, compute);
}

/** SPIFFE identities of a service's backends, for ISTIO_MUTUAL SAN checks (Istio's service accounts). */
export function serviceIdentities(snapshot: ConfigSnapshot, svc: MeshService, trustDomain: string): string[] {
  const push = pushContext(snapshot);
  const compute = (): string[] => computeIdentities(svc, trustDomain, (port) => serviceEndpoints(snapshot, svc, port));
  if (push.serviceByHost.get(svc.hostname) !== svc) return compute();
  // A fresh array each time: callers put it into resources they own.
  return [...push.memo(`identities|${svc.hostname}|${trustDomain}`, compute)];
}
