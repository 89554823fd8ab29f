// Who may hold a gateway's credentials. Istio's SDS serves a `kubernetes://` secret only to a router
// whose verified identity is in the secret's namespace (or may list secrets there); that trusts any
// workload in istio-system that calls itself a router. meshgate narrows it to identities that are a
// gateway: the proven namespace/service account runs a Pod, in that namespace, that some Gateway's
// selector picks — or is named in the control plane's explicit list (`--gateway-service-account`).
// The node's claims (role, labels, pod name) never decide it; only the identity the stream proved.
import type { ConfigSnapshot } from '../config/types.js';
import { labelsMatch } from './labels.js';
import { pushContext } from './push-context.js';

/** A workload identity as proven by its token or certificate. */
export interface WorkloadIdentity {
  namespace: string;
  serviceAccount: string;
}

/** Options of the model that come from the control plane rather than from config objects. */
export interface ModelOptions {
  /** `NAMESPACE/NAME` service accounts allowed gateway credentials besides those the config shows to be gateways. */
  gatewayServiceAccounts?: ReadonlySet<string>;
}

export class ServiceAccountRefError extends Error {
  readonly code = 'E_SERVICE_ACCOUNT_REF';
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Parses `NAMESPACE/NAME` (Kubernetes naming rules) into its canonical form. */
export function parseServiceAccountRef(ref: string): string {
  const parts = ref.split('/');
  if (
    parts.length !== 2 ||
    !DNS_LABEL.test(parts[0]!) ||
    parts[0]!.length > 63 ||
    !DNS_SUBDOMAIN.test(parts[1]!) ||
    parts[1]!.length > 253
  ) {
    throw new ServiceAccountRefError(
      `"${ref}" is not NAMESPACE/NAME of a service account (lower-case DNS names, e.g. istio-system/istio-ingressgateway-service-account)`,
    );
  }
  return `${parts[0]}/${parts[1]}`;
}

/**
 * `NAMESPACE/SERVICE_ACCOUNT` of every Pod that a Gateway selects (Gateways select pods in any
 * namespace, as Istio's do by default). A Pod without serviceAccountName runs as `default`, as in
 * Kubernetes.
 */
export function gatewayServiceAccountsOf(snapshot: ConfigSnapshot): ReadonlySet<string> {
  return pushContext(snapshot).memo('gateway-service-accounts', () => {
    const selectors = snapshot.gateways
      .map((g) => g.spec.selector)
      .filter((s): s is Record<string, string> => s !== undefined && Object.keys(s).length > 0);
    const out = new Set<string>();
    for (const p of snapshot.pods) {
      if (selectors.some((s) => labelsMatch(s, p.metadata.labels)))
        out.add(`${p.metadata.namespace}/${p.spec.serviceAccountName ?? 'default'}`);
    }
    return out;
  });
}

/**
 * Whether `identity` may be given the `kubernetes://` credentials of `secretNamespace`: only its own
 * namespace's, and only when it is a gateway's service account there or explicitly allowed.
 */
export function identityMayHoldCredentials(
  snapshot: ConfigSnapshot,
  identity: WorkloadIdentity,
  secretNamespace: string,
  opts: ModelOptions = {},
): boolean {
  if (identity.namespace !== secretNamespace) return false;
  const key = `${identity.namespace}/${identity.serviceAccount}`;
  return opts.gatewayServiceAccounts?.has(key) === true || gatewayServiceAccountsOf(snapshot).has(key);
}

/** Why a proxy's identity gets no gateway credentials, for notes and fail-closed reasons. */
export function credentialsRefusedReason(identity: WorkloadIdentity): string {
  return `identity ${identity.namespace}/${identity.serviceAccount} is not a gateway's service account (no Pod with it in ${identity.namespace} is selected by a Gateway, and the control plane's --gateway-service-account list does not name it)`;
}
