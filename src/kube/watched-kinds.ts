// The kinds the Kubernetes config source watches: every kind meshgate's loader accepts
// (config/schema/index.ts) except Secrets, which are watched one name at a time (secret-selection.ts).
// Istio's groups are read at the version the API server prefers, as long as the loader accepts it.
import { KIND_SCHEMAS } from '../config/schema/index.js';

export interface WatchedKind {
  group: string; // '' for core
  kind: string;
  plural: string;
  /** Versions the loader accepts, most wanted first. */
  versions: readonly string[];
}

const PLURALS: Record<string, string> = {
  ServiceEntry: 'serviceentries',
  VirtualService: 'virtualservices',
  DestinationRule: 'destinationrules',
  Gateway: 'gateways',
  Sidecar: 'sidecars',
  PeerAuthentication: 'peerauthentications',
  AuthorizationPolicy: 'authorizationpolicies',
  Service: 'services',
  Secret: 'secrets',
  Namespace: 'namespaces',
  ServiceAccount: 'serviceaccounts',
  Pod: 'pods',
};

function kindOf(kind: string): WatchedKind {
  const apiVersions = KIND_SCHEMAS[kind]!.apiVersions;
  const group = apiVersions[0]!.includes('/') ? apiVersions[0]!.split('/')[0]! : '';
  const versions = apiVersions.map((v) => (v.includes('/') ? v.split('/')[1]! : v)).sort((a, b) => rank(a) - rank(b));
  return { group, kind, plural: PLURALS[kind]!, versions };
}

/** v1 before v1beta1 before v1alpha3: Kubernetes' version priority. */
function rank(v: string): number {
  const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
  if (!m) return 1e9;
  const stage = m[2] === undefined ? 0 : m[2] === 'beta' ? 1 : 2;
  return stage * 1e6 - Number(m[1]) * 1e3 - Number(m[3] ?? 0);
}

/** Every kind the loader accepts but Secret. */
export const WATCHED_KINDS: readonly WatchedKind[] = Object.keys(KIND_SCHEMAS)
  .filter((k) => k !== 'Secret')
  .map(kindOf);

export const SECRET_KIND: WatchedKind = kindOf('Secret');

/** The collection path across namespaces: `/api/v1/pods`, `/apis/networking.istio.io/v1/gateways`. */
export function collectionPath(k: WatchedKind, version: string): string {
  return k.group === '' ? `/api/${version}/${k.plural}` : `/apis/${k.group}/${version}/${k.plural}`;
}

export function apiVersionOf(k: WatchedKind, version: string): string {
  return k.group === '' ? version : `${k.group}/${version}`;
}
