// Incremental ADS on the proxy's side, as Istio's sidecars use it: the client keeps each type's
// resources and applies the changes and removals a response carries, handing the proxy the whole
// resulting set. On a new stream it says, per type, the names it subscribes to and the version of each
// resource it holds, so the server sends only what differs; afterwards it sends subscription changes
// and the ACK or NACK of each response (by its nonce).
import { decodeAny } from '../codec.js';
import { WILDCARD_TYPES } from '../discovery.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from '../delta-discovery.js';
import { INVALID_ARGUMENT, type Applied, type OnResources, type Subscription } from './subscription.js';

type Held = Map<string, { version: string; json: object }>;

export class DeltaSubscriptions {
  /** Per type: the resources held (applied and ACKed), by name, with the version the server gave each. */
  private readonly held = new Map<string, Held>();
  /** Per type: the names this stream has told the server it subscribes to. */
  private readonly sentNames = new Map<string, string[]>();

  /** A new stream has been told nothing yet; what is held is kept, to resume with. */
  newStream(): void {
    this.sentNames.clear();
  }

  /**
   * On a new stream, the names and what is held; afterwards, subscription changes, or the ACK (NACK
   * with `errorMessage`) of the response `nonce`. Undefined when there is nothing to say.
   */
  request(typeUrl: string, sub: Subscription, initial: boolean, errorMessage?: string, nonce?: string): DeltaDiscoveryRequest | undefined {
    const req: DeltaDiscoveryRequest = {
      typeUrl,
      resourceNamesSubscribe: [],
      resourceNamesUnsubscribe: [],
      initialResourceVersions: {},
      responseNonce: '',
    };
    const held = this.heldOf(typeUrl);
    const sentNames = this.sentNames.get(typeUrl) ?? [];
    if (initial || !sub.requested) {
      // A wildcard type subscribes with no names (Envoy's legacy wildcard); a named type with none waits.
      if (!WILDCARD_TYPES.has(typeUrl) && sub.names.length === 0) return undefined;
      req.resourceNamesSubscribe = [...sub.names];
      for (const [name, r] of held)
        if (WILDCARD_TYPES.has(typeUrl) || sub.names.includes(name)) req.initialResourceVersions[name] = r.version;
    } else if (nonce !== undefined) {
      req.responseNonce = nonce;
      if (errorMessage !== undefined) req.errorDetail = { code: INVALID_ARGUMENT, message: errorMessage };
    } else {
      const now = new Set(sub.names);
      const before = new Set(sentNames);
      req.resourceNamesSubscribe = sub.names.filter((n) => !before.has(n));
      req.resourceNamesUnsubscribe = sentNames.filter((n) => !now.has(n));
      if (req.resourceNamesSubscribe.length === 0 && req.resourceNamesUnsubscribe.length === 0) return undefined;
      // What is unsubscribed is forgotten, as Envoy does; the server sends nothing for it.
      for (const n of req.resourceNamesUnsubscribe) held.delete(n);
    }
    this.sentNames.set(typeUrl, [...sub.names]);
    return req;
  }

  /** Applies the changes and removals to what is held and hands the proxy the whole set. */
  async apply(sub: Subscription, res: DeltaDiscoveryResponse, onResources: OnResources): Promise<Applied> {
    const unchanged = res.resources.length === 0 && res.removedResources.length === 0 && sub.ackedVersion !== '';
    let error: string | undefined;
    const next = new Map(this.heldOf(res.typeUrl));
    try {
      for (const r of res.resources) {
        const { '@type': _t, ...json } = decodeAny({ typeUrl: res.typeUrl, value: r.value });
        next.set(r.name, { version: r.version, json });
      }
      for (const n of res.removedResources) next.delete(n);
      // Nothing new (the answer to a resumed stream that already holds everything): nothing to apply.
      if (!unchanged) {
        const names = [...next.keys()].sort();
        await onResources(
          res.typeUrl,
          names.map((n) => (next.get(n) as { json: object }).json),
          res.systemVersionInfo,
        );
      }
    } catch (err) {
      error = (err as Error).message ?? String(err);
    }
    if (error === undefined) this.held.set(res.typeUrl, next);
    return { version: res.systemVersionInfo, error, announce: !unchanged };
  }

  private heldOf(typeUrl: string): Held {
    let held = this.held.get(typeUrl);
    if (!held) this.held.set(typeUrl, (held = new Map()));
    return held;
  }
}
