// What `/debug/syncz` reports and `meshgate proxy-status` prints, as istiod's syncz and istioctl do:
// per connected proxy its identity and, per xDS type, the version sent, the version ACKed and whether
// they agree (SYNCED), differ (STALE: in flight or NACKed) or nothing was sent (NOT SENT).
import type { ConnectionStatus } from '../xds/server/ads-server.js';
import { shortType } from './metrics.js';

export type SyncState = 'SYNCED' | 'STALE' | 'NOT SENT';

export interface TypeSync {
  state: SyncState;
  sent?: string;
  acked?: string;
  nacked?: string;
  error?: string;
  resources?: number;
}

export interface ProxySync {
  proxy: string;
  /** `pod.namespace`, as istioctl proxy-status names proxies. */
  name: string;
  clusterId: string;
  role: string;
  namespace: string;
  serviceAccount: string;
  identity: string;
  authenticatedBy: string;
  peerAddress: string;
  connectedAt: string;
  istioVersion?: string;
  snapshotVersion?: string;
  types: Record<string, TypeSync>;
}

export const SYNCZ_TYPES = ['cds', 'lds', 'eds', 'sds', 'nds'] as const;

export function typeSync(t: ConnectionStatus['types'][string] | undefined): TypeSync {
  if (!t || t.sentVersion === undefined) return { state: 'NOT SENT' };
  const out: TypeSync = {
    state: t.ackedVersion === t.sentVersion && t.nackedVersion === undefined ? 'SYNCED' : 'STALE',
    sent: t.sentVersion,
  };
  if (t.ackedVersion !== undefined) out.acked = t.ackedVersion;
  if (t.nackedVersion !== undefined) out.nacked = t.nackedVersion;
  if (t.lastError !== undefined) out.error = t.lastError;
  if (t.sentCount !== undefined) out.resources = t.sentCount;
  return out;
}

/** `snapshotVersionOf` is given each stream's snapshot key (ConnectionStatus.snapshotKey). */
export function buildSyncz(
  connections: ConnectionStatus[],
  trustDomain: string,
  snapshotVersionOf: (snapshotKey: string) => string | undefined,
): ProxySync[] {
  return connections
    .map((c) => {
      const types: Record<string, TypeSync> = {};
      const byShort = new Map(Object.entries(c.types).map(([url, s]) => [shortType(url), s]));
      for (const t of SYNCZ_TYPES) types[t] = typeSync(byShort.get(t));
      const p: ProxySync = {
        proxy: c.node.id,
        name: `${c.node.podName}.${c.node.namespace}`,
        clusterId: c.node.clusterId,
        role: c.node.role,
        namespace: c.node.namespace,
        serviceAccount: c.node.serviceAccount,
        identity: c.peer.spiffeId ?? `spiffe://${c.peer.trustDomain ?? trustDomain}/ns/${c.peer.namespace}/sa/${c.peer.serviceAccount}`,
        authenticatedBy: c.peer.method,
        peerAddress: c.peerAddress,
        connectedAt: c.connectedAt.toISOString(),
        types,
      };
      if (c.node.version) p.istioVersion = c.node.version;
      const v = snapshotVersionOf(c.snapshotKey);
      if (v !== undefined) p.snapshotVersion = v;
      return p;
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
