// What one subscription of a stream is sent: the resources it subscribes to (all of a wildcard type, the
// named ones otherwise) that its proven identity may receive. Withheld resources are logged and emitted
// once per name and stream; a name the proxy may never have is refused whether or not it exists now, as
// Istio's SDS checks the names asked for (a proxy fishing for another workload's credential).
import type { EventEmitter } from 'node:events';
import type { ProxyNode } from '../../envoy/node.js';
import type { PeerIdentity } from '../peer-identity.js';
import type { EncodedResource } from '../snapshot-cache.js';
import type { Logger } from '../../shared/log.js';

/** A subscription as selection sees it (both protocols). */
export interface SelectionState {
  /** Resource names subscribed to; empty for a wildcard subscription. */
  names: string[];
  wildcard: boolean;
  /** Names withheld from this stream (each logged and emitted once). */
  denied: Set<string>;
  /** Wildcard: a snapshot map every resource of which this proxy was found allowed to receive. */
  allowedMap?: ReadonlyMap<string, EncodedResource>;
}

export interface AuthorizeOptions {
  /** Whether this proxy may receive this resource; SDS secrets are filtered by it. Default: allow all. */
  authorizeResource?: (node: ProxyNode, peer: PeerIdentity, typeUrl: string, name: string) => boolean;
  /** The types `authorizeResource` decides (default: every type). */
  authorizedTypes?: readonly string[];
}

export class ResourceSelector {
  /** `events` receives 'denied' ({node, peer, typeUrl, name}). */
  constructor(
    private readonly opts: AuthorizeOptions,
    private readonly log: Logger,
    private readonly events: EventEmitter,
  ) {}

  /**
   * What a stream is subscribed to of `typeUrl` and may receive: undefined for everything in `byName`
   * (shared by every proxy given the same map), else the resources, unsorted.
   */
  select(
    peer: PeerIdentity | undefined,
    st: SelectionState,
    node: ProxyNode,
    typeUrl: string,
    byName: ReadonlyMap<string, EncodedResource>,
  ): EncodedResource[] | undefined {
    // Everything, as last time: nothing to filter or check again (a push to thousands of proxies asks this
    // for every response and every ACK).
    if (st.wildcard && st.allowedMap === byName) return undefined;
    const authorize = this.opts.authorizeResource;
    const authorizing =
      authorize !== undefined &&
      peer !== undefined &&
      (this.opts.authorizedTypes === undefined || this.opts.authorizedTypes.includes(typeUrl));
    if (st.wildcard && !authorizing) {
      st.allowedMap = byName;
      return undefined;
    }
    let selected: EncodedResource[];
    let full: boolean;
    if (st.wildcard) {
      selected = [...byName.values()];
      full = true;
    } else {
      selected = [];
      for (const n of st.names) {
        const r = byName.get(n);
        if (r) selected.push(r);
      }
      full = selected.length === byName.size;
    }
    if (authorizing && peer) {
      const allowed = selected.filter((r) => authorize(node, peer, typeUrl, r.name));
      if (allowed.length !== selected.length) {
        const kept = new Set(allowed);
        for (const r of selected) if (!kept.has(r)) this.deny(st, node, peer, typeUrl, r.name);
        selected = allowed;
        full = false;
      }
      // A name this proxy may never have is refused whether or not it exists now (Istio's SDS checks the
      // names asked for): a proxy fishing for another workload's credential is logged and counted.
      if (!st.wildcard)
        for (const n of st.names)
          if (!byName.has(n) && !st.denied.has(n) && !authorize(node, peer, typeUrl, n)) this.deny(st, node, peer, typeUrl, n);
    }
    if (full && st.wildcard) st.allowedMap = byName;
    return full ? undefined : selected;
  }

  /** Withholds `name` from this stream; logged and emitted once per name and stream. */
  private deny(st: SelectionState, node: ProxyNode, peer: PeerIdentity, typeUrl: string, name: string): void {
    if (st.denied.has(name)) return;
    st.denied.add(name);
    this.log.warn('resource withheld: proxy not authorized for it', {
      node: node.id,
      identity: `${peer.namespace}/${peer.serviceAccount}`,
      type: typeUrl,
      resource: name,
    });
    this.events.emit('denied', { node, peer, typeUrl, name });
  }
}
