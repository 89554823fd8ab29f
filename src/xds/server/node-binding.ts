// Which workload identity owns a node id. The control plane keys a proxy's config, its debug pages and
// its metrics by node id, and the node's labels choose its listeners, PeerAuthentication and RBAC; a
// second identity reusing a live proxy's id (another service account that learned it) must not become
// that proxy. The first identity (SPIFFE: trust domain, namespace, service account) to open a stream
// for a node id holds it while any of its streams is open and for `retentionMs` after the last one
// closes, so a victim's reconnect window cannot be taken either; another identity is refused. Released
// bindings are bounded in number: past `maxReleased`, the oldest is forgotten first.

export interface NodeBindingOptions {
  /** How long a node id stays bound after its last stream closed (default 5 minutes). */
  retentionMs?: number;
  /** How many released bindings are kept at most (default 10,000); live ones are bounded by the streams. */
  maxReleased?: number;
  /** Milliseconds clock; tests pass their own. */
  now?: () => number;
}

export const DEFAULT_NODE_BINDING_RETENTION_MS = 5 * 60_000;
export const DEFAULT_MAX_RELEASED_NODE_BINDINGS = 10_000;

export type BindResult = { bound: true } | { bound: false; owner: string };

export class NodeIdentityBindings {
  private readonly live = new Map<string, { identity: string; streams: number }>();
  /** In release order, which is also expiry order (one retention for all). */
  private readonly released = new Map<string, { identity: string; expiresAt: number }>();
  private readonly retentionMs: number;
  private readonly maxReleased: number;
  private readonly now: () => number;

  constructor(opts: NodeBindingOptions = {}) {
    this.retentionMs = opts.retentionMs ?? DEFAULT_NODE_BINDING_RETENTION_MS;
    this.maxReleased = opts.maxReleased ?? DEFAULT_MAX_RELEASED_NODE_BINDINGS;
    this.now = opts.now ?? Date.now;
  }

  /**
   * One more stream of `nodeId` proven as `identity`: bound (the caller must `release` it when the stream
   * ends), or refused with the identity that holds the id.
   */
  acquire(nodeId: string, identity: string): BindResult {
    const live = this.live.get(nodeId);
    if (live) {
      if (live.identity !== identity) return { bound: false, owner: live.identity };
      live.streams++;
      return { bound: true };
    }
    this.expire();
    const held = this.released.get(nodeId);
    if (held && held.identity !== identity) return { bound: false, owner: held.identity };
    this.released.delete(nodeId);
    this.live.set(nodeId, { identity, streams: 1 });
    return { bound: true };
  }

  /** A stream that `acquire` bound has ended. */
  release(nodeId: string): void {
    const live = this.live.get(nodeId);
    if (!live || --live.streams > 0) return;
    this.live.delete(nodeId);
    this.released.set(nodeId, { identity: live.identity, expiresAt: this.now() + this.retentionMs });
    this.expire();
    for (const oldest of this.released.keys()) {
      if (this.released.size <= this.maxReleased) break;
      this.released.delete(oldest);
    }
  }

  /** The identity holding `nodeId`, if any. */
  owner(nodeId: string): string | undefined {
    const live = this.live.get(nodeId);
    if (live) return live.identity;
    this.expire();
    return this.released.get(nodeId)?.identity;
  }

  /** Bindings held now: by open streams, and released ones within their retention. */
  size(): { live: number; released: number } {
    this.expire();
    return { live: this.live.size, released: this.released.size };
  }

  private expire(): void {
    const now = this.now();
    for (const [id, b] of this.released) {
      if (b.expiresAt > now) break;
      this.released.delete(id);
    }
  }
}
