// The resources the API-server double serves: core v1 kinds the mesh reads (and kubectl uses), and
// Istio's CRD kinds in every version Istio's CRDs serve. An object is stored once per group and kind;
// each served version returns it with its own apiVersion, as an API server does for a CRD whose versions
// share one schema (Istio's do: v1alpha3, v1beta1 and v1 are identical).

export interface ResourceType {
  group: string; // '' for core
  versions: readonly string[];
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: readonly string[];
}

const NETWORKING = ['v1', 'v1beta1', 'v1alpha3'];
const SECURITY = ['v1', 'v1beta1'];

export const RESOURCE_TYPES: readonly ResourceType[] = [
  { group: '', versions: ['v1'], kind: 'Namespace', plural: 'namespaces', singular: 'namespace', namespaced: false, shortNames: ['ns'] },
  { group: '', versions: ['v1'], kind: 'Pod', plural: 'pods', singular: 'pod', namespaced: true, shortNames: ['po'] },
  { group: '', versions: ['v1'], kind: 'Service', plural: 'services', singular: 'service', namespaced: true, shortNames: ['svc'] },
  { group: '', versions: ['v1'], kind: 'Secret', plural: 'secrets', singular: 'secret', namespaced: true },
  {
    group: '',
    versions: ['v1'],
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    singular: 'serviceaccount',
    namespaced: true,
    shortNames: ['sa'],
  },
  { group: '', versions: ['v1'], kind: 'ConfigMap', plural: 'configmaps', singular: 'configmap', namespaced: true, shortNames: ['cm'] },
  { group: '', versions: ['v1'], kind: 'Event', plural: 'events', singular: 'event', namespaced: true, shortNames: ['ev'] },
  {
    group: 'networking.istio.io',
    versions: NETWORKING,
    kind: 'VirtualService',
    plural: 'virtualservices',
    singular: 'virtualservice',
    namespaced: true,
    shortNames: ['vs'],
  },
  {
    group: 'networking.istio.io',
    versions: NETWORKING,
    kind: 'DestinationRule',
    plural: 'destinationrules',
    singular: 'destinationrule',
    namespaced: true,
    shortNames: ['dr'],
  },
  {
    group: 'networking.istio.io',
    versions: NETWORKING,
    kind: 'Gateway',
    plural: 'gateways',
    singular: 'gateway',
    namespaced: true,
    shortNames: ['gw'],
  },
  {
    group: 'networking.istio.io',
    versions: NETWORKING,
    kind: 'ServiceEntry',
    plural: 'serviceentries',
    singular: 'serviceentry',
    namespaced: true,
    shortNames: ['se'],
  },
  { group: 'networking.istio.io', versions: NETWORKING, kind: 'Sidecar', plural: 'sidecars', singular: 'sidecar', namespaced: true },
  {
    group: 'security.istio.io',
    versions: SECURITY,
    kind: 'PeerAuthentication',
    plural: 'peerauthentications',
    singular: 'peerauthentication',
    namespaced: true,
    shortNames: ['pa'],
  },
  {
    group: 'security.istio.io',
    versions: SECURITY,
    kind: 'AuthorizationPolicy',
    plural: 'authorizationpolicies',
    singular: 'authorizationpolicy',
    namespaced: true,
    shortNames: ['ap'],
  },
];

export const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

export function groupVersion(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}

export function findResource(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((r) => r.group === group && r.plural === plural && r.versions.includes(version));
}

export function groups(): { name: string; versions: string[] }[] {
  const out = new Map<string, string[]>();
  for (const r of RESOURCE_TYPES) if (r.group !== '' && !out.has(r.group)) out.set(r.group, [...r.versions]);
  return [...out].map(([name, versions]) => ({ name, versions }));
}

/** `/api/v1` or `/apis/<group>/<version>`'s APIResourceList, as kubectl's discovery reads it. */
export function resourceList(group: string, version: string): object | undefined {
  const rs = RESOURCE_TYPES.filter((r) => r.group === group && r.versions.includes(version));
  if (rs.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion(group, version),
    resources: rs.map((r) => ({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: VERBS,
      ...(r.shortNames ? { shortNames: r.shortNames } : {}),
    })),
  };
}
