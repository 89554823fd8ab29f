// go-control-plane's snapshot cache: per proxy (node id) one consistent, versioned set of resources of
// every type. A snapshot is checked before it replaces the current one — every cluster a listener's
// tcp_proxy names exists, every EDS cluster has its assignment, every SDS secret a listener or cluster
// references is there (except the proxy-local `default` and `ROOTCA`, which the proxy's agent serves
// as pilot-agent does) and every resource encodes as Envoy would accept it — so a proxy never sees a
// half-built configuration. An inconsistent snapshot is refused and the previous one stays served.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { TypeUrl } from '../envoy/envoy-types.js';
import type { ProxyResources } from '../envoy/envoy-types.js';
import { NameTableTypeUrl, type NameTable } from '../envoy/name-table.js';
import { encodeResource, XdsCodecError } from './codec.js';
import { edsNamesOf, referencedSecrets, resourceName, tcpProxyClusters, type AnyJson } from '../envoy/resource-refs.js';

export { PROXY_LOCAL_SECRETS, edsNamesOf, referencedSecrets, resourceName } from '../envoy/resource-refs.js';

export interface Snapshot {
  version: string;
  /** typeUrl → resource name → resource in canonical JSON. */
  resources: Map<string, Map<string, object>>;
}

/** One resource ready for the wire: its JSON, its encoding and a content hash. */
export interface EncodedResource {
  name: string;
  json: object;
  value: Buffer;
  hash: string;
}

export interface EncodedSnapshot {
  version: string;
  resources: Map<string, Map<string, EncodedResource>>;
}

export class SnapshotInconsistentError extends Error {
  readonly code = 'E_XDS_SNAPSHOT_INCONSISTENT';
  constructor(
    readonly nodeId: string,
    readonly problems: string[],
  ) {
    super(`snapshot for ${nodeId} refused, the previous one stays served: ${problems.join('; ')}`);
  }
}

/** Builds a snapshot from the model's output (resources keyed by their names). */
export function snapshotFromResources(version: string, r: ProxyResources, nameTable?: NameTable): Snapshot {
  const resources = new Map<string, Map<string, object>>([
    [TypeUrl.Listener, new Map(r.listeners.map((l) => [l.name, l]))],
    [TypeUrl.Cluster, new Map(r.clusters.map((c) => [c.name, c]))],
    [TypeUrl.ClusterLoadAssignment, new Map(r.endpoints.map((e) => [e.clusterName, e]))],
    [TypeUrl.Secret, new Map(r.secrets.map((s) => [s.name, s]))],
  ]);
  // Istio sends one unnamed NameTable per proxy.
  if (nameTable) resources.set(NameTableTypeUrl, new Map([['', nameTable]]));
  return { version, resources };
}

/** Problems that make a snapshot unfit to serve; empty when it is consistent. */
export function checkSnapshotConsistency(snapshot: Snapshot): string[] {
  const problems: string[] = [];
  const of = (t: string): Map<string, object> => snapshot.resources.get(t) ?? new Map();
  const listeners = of(TypeUrl.Listener);
  const clusters = of(TypeUrl.Cluster);
  const endpoints = of(TypeUrl.ClusterLoadAssignment);
  const secrets = of(TypeUrl.Secret);
  for (const [typeUrl, byName] of snapshot.resources) {
    for (const [name, json] of byName) {
      const inner = resourceName(typeUrl, json);
      if (inner !== name) problems.push(`${typeUrl.split('.').pop()} keyed "${name}" is named "${String(inner)}" inside`);
    }
  }
  for (const [name, l] of listeners) {
    const chains = [...((l as { filterChains?: { filters?: { typedConfig?: AnyJson }[] }[] }).filterChains ?? [])];
    const dfc = (l as { defaultFilterChain?: { filters?: { typedConfig?: AnyJson }[] } }).defaultFilterChain;
    if (dfc) chains.push(dfc);
    for (const fc of chains) {
      for (const f of fc.filters ?? []) {
        for (const c of tcpProxyClusters(f))
          if (!clusters.has(c)) problems.push(`listener "${name}" routes to cluster "${c}", which is not in the snapshot`);
      }
    }
    for (const s of referencedSecrets(TypeUrl.Listener, l))
      if (!secrets.has(s)) problems.push(`listener "${name}" needs secret "${s}", which is not in the snapshot`);
  }
  for (const [name, c] of clusters) {
    for (const eds of edsNamesOf([c]))
      if (!endpoints.has(eds)) problems.push(`EDS cluster "${name}" has no ClusterLoadAssignment "${eds}"`);
    for (const s of referencedSecrets(TypeUrl.Cluster, c))
      if (!secrets.has(s)) problems.push(`cluster "${name}" needs secret "${s}", which is not in the snapshot`);
  }
  return problems;
}

/** How many distinct encoded resources the cache keeps before it starts over (bounded memory). */
const ENCODE_CACHE_LIMIT = 100_000;
interface Encoded {
  value: Buffer;
  hash: string;
}
interface EncodeCache {
  byContent: Map<string, Encoded>;
  byObject: WeakMap<object, Encoded>;
}

function encodeSnapshot(nodeId: string, snapshot: Snapshot, cache: EncodeCache): EncodedSnapshot {
  const problems: string[] = [];
  const resources = new Map<string, Map<string, EncodedResource>>();
  for (const [typeUrl, byName] of snapshot.resources) {
    const enc = new Map<string, EncodedResource>();
    for (const [name, json] of byName) {
      try {
        // Proxies of the same shape get the same resources: encode each distinct one once, not per proxy
        // (the encoding through protobuf reflection is what dominated a push to many proxies).
        // The model shares resource objects between proxies and shapes: the same object is looked up by
        // identity, an equal one (a later config version, another shape) by its content.
        let hit = cache.byObject.get(json);
        if (!hit) {
          const key = `${typeUrl}\n${JSON.stringify(json)}`;
          hit = cache.byContent.get(key);
          if (!hit) {
            const value = encodeResource(typeUrl, json);
            hit = { value, hash: createHash('sha256').update(value).digest('hex').slice(0, 16) };
            if (cache.byContent.size >= ENCODE_CACHE_LIMIT) cache.byContent.clear();
            cache.byContent.set(key, hit);
          }
          cache.byObject.set(json, hit);
        }
        enc.set(name, { name, json, value: hit.value, hash: hit.hash });
      } catch (err) {
        if (!(err instanceof XdsCodecError)) throw err;
        problems.push(err.message);
      }
    }
    resources.set(typeUrl, enc);
  }
  if (problems.length > 0) throw new SnapshotInconsistentError(nodeId, problems);
  return { version: snapshot.version, resources };
}

/**
 * Per-node snapshots. `setSnapshot` validates, encodes once and emits `updated(nodeId)`; the ADS server
 * answers open watches from it. Events: `updated` (nodeId), `rejected` (nodeId, error).
 */
export class SnapshotCache extends EventEmitter {
  private readonly snapshots = new Map<string, EncodedSnapshot>();
  private readonly encodeCache: EncodeCache = { byContent: new Map(), byObject: new WeakMap() };
  /**
   * The outcome of checking and encoding each snapshot object: proxies of one shape are given the same
   * object, which is checked and encoded once (snapshots are never changed after they are built).
   */
  private readonly outcomes = new WeakMap<Snapshot, EncodedSnapshot | { problems: string[] }>();

  /** Replaces the node's snapshot; throws SnapshotInconsistentError (keeping the old one) when unfit. */
  setSnapshot(nodeId: string, snapshot: Snapshot): void {
    let encoded: EncodedSnapshot;
    try {
      let outcome = this.outcomes.get(snapshot);
      if (!outcome) {
        const problems = checkSnapshotConsistency(snapshot);
        try {
          outcome = problems.length > 0 ? { problems } : encodeSnapshot(nodeId, snapshot, this.encodeCache);
        } catch (err) {
          if (!(err instanceof SnapshotInconsistentError)) throw err;
          outcome = { problems: err.problems };
        }
        this.outcomes.set(snapshot, outcome);
      }
      if ('problems' in outcome) throw new SnapshotInconsistentError(nodeId, outcome.problems);
      encoded = outcome;
    } catch (err) {
      this.emit('rejected', nodeId, err);
      throw err;
    }
    this.snapshots.set(nodeId, encoded);
    this.emit('updated', nodeId);
  }

  getSnapshot(nodeId: string): Snapshot | undefined {
    const s = this.snapshots.get(nodeId);
    if (!s) return undefined;
    return { version: s.version, resources: new Map([...s.resources].map(([t, m]) => [t, new Map([...m].map(([n, r]) => [n, r.json]))])) };
  }

  getEncoded(nodeId: string): EncodedSnapshot | undefined {
    return this.snapshots.get(nodeId);
  }

  clearSnapshot(nodeId: string): void {
    this.snapshots.delete(nodeId);
  }

  nodeIds(): string[] {
    return [...this.snapshots.keys()];
  }
}
