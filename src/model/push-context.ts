// What the model derives from one config snapshot once, for every proxy it generates (Istio's
// PushContext): the service registry and its host index, DestinationRules and VirtualServices indexed
// by the hosts they name, pods by namespace, auto-allocated VIPs, and memoised per-service answers
// (endpoints, identities). Built lazily on first use and kept as long as the snapshot object lives;
// a snapshot is immutable, so nothing here is ever invalidated — a new version gets a new context.
import type { ConfigSnapshot, DestinationRule, Pod, VirtualService } from '../config/types.js';
import { resolveShortHost } from '../config/hosts.js';
import { buildServiceRegistry, type MeshService } from './services.js';

/** A config object with the hosts it names resolved against its namespace. */
export interface HostIndexed<T> {
  readonly object: T;
  readonly hosts: readonly string[];
}

/** Objects keyed by the exact hosts they name, plus those naming a wildcard (checked per lookup). */
export class HostIndex<T> {
  private readonly exact = new Map<string, HostIndexed<T>[]>();
  private readonly wildcards: HostIndexed<T>[] = [];
  readonly all: readonly HostIndexed<T>[];

  constructor(entries: readonly HostIndexed<T>[]) {
    this.all = entries;
    for (const e of entries) {
      let wildcard = false;
      for (const h of e.hosts) {
        if (h.startsWith('*')) wildcard = true;
        else {
          const k = h.toLowerCase();
          const list = this.exact.get(k);
          if (list) {
            if (list[list.length - 1] !== e) list.push(e);
          } else this.exact.set(k, [e]);
        }
      }
      if (wildcard) this.wildcards.push(e);
    }
  }

  /**
   * Every entry that may name `host`: those naming it exactly and those with a wildcard (the caller
   * applies its own host rule to them). A wildcard `host` can overlap anything, so it gets all entries.
   */
  candidates(host: string): readonly HostIndexed<T>[] {
    if (host.startsWith('*')) return this.all;
    const exact = this.exact.get(host.toLowerCase());
    if (!exact) return this.wildcards;
    if (this.wildcards.length === 0) return exact;
    // Keep the original order (callers sort, but stable input keeps results deterministic).
    const set = new Set<HostIndexed<T>>([...exact, ...this.wildcards]);
    return this.all.filter((e) => set.has(e));
  }
}

export interface PushContext {
  readonly snapshot: ConfigSnapshot;
  /** Every service host, deduplicated and sorted by host name (see buildServiceRegistry). */
  readonly registry: readonly MeshService[];
  readonly serviceByHost: ReadonlyMap<string, MeshService>;
  readonly destinationRules: HostIndex<DestinationRule>;
  readonly virtualServices: HostIndex<VirtualService>;
  podsIn(namespace: string): readonly Pod[];
  pod(namespace: string, name: string): Pod | undefined;
  /**
   * A value derived from this snapshot alone (plus the key's parts), computed once. Keys are
   * namespaced by the caller (`endpoints|...`, `identities|...`).
   */
  memo<T>(key: string, compute: () => T): T;
}

const contexts = new WeakMap<ConfigSnapshot, PushContext>();

function build(snapshot: ConfigSnapshot): PushContext {
  const suffix = snapshot.meshConfig.domainSuffix;
  const registry = buildServiceRegistry(snapshot);
  const serviceByHost = new Map(registry.map((s) => [s.hostname, s]));
  const destinationRules = new HostIndex(
    snapshot.destinationRules.map((dr) => ({ object: dr, hosts: [resolveShortHost(dr.spec.host, dr.metadata.namespace, suffix)] })),
  );
  const virtualServices = new HostIndex(
    snapshot.virtualServices.map((vs) => ({
      object: vs,
      hosts: (vs.spec.hosts ?? []).map((h) => resolveShortHost(h, vs.metadata.namespace, suffix)),
    })),
  );
  const podsByNs = new Map<string, Pod[]>();
  const podByKey = new Map<string, Pod>();
  for (const p of snapshot.pods) {
    const list = podsByNs.get(p.metadata.namespace);
    if (list) list.push(p);
    else podsByNs.set(p.metadata.namespace, [p]);
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    if (!podByKey.has(key)) podByKey.set(key, p);
  }
  const memos = new Map<string, unknown>();
  return {
    snapshot,
    registry,
    serviceByHost,
    destinationRules,
    virtualServices,
    podsIn: (ns) => podsByNs.get(ns) ?? [],
    pod: (ns, name) => podByKey.get(`${ns}/${name}`),
    memo<T>(key: string, compute: () => T): T {
      if (memos.has(key)) return memos.get(key) as T;
      const v = compute();
      memos.set(key, v);
      return v;
    },
  };
}

/** The push context of a snapshot, built on first use. */
export function pushContext(snapshot: ConfigSnapshot): PushContext {
  let c = contexts.get(snapshot);
  if (!c) {
    c = build(snapshot);
    contexts.set(snapshot, c);
  }
  return c;
}
