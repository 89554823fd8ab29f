// Incremental ADS (DeltaAggregatedResources), as istiod's delta.go and Envoy's xDS protocol define it:
// subscriptions change by the names a request adds and removes; a response carries what changed between
// what the proxy holds and what it should hold (a large difference in several responses: delta-diff.ts);
// a delta ACK names only its nonce. A proxy resuming after reconnect says what it holds
// (initial_resource_versions) and is sent only what differs. A NACK leaves the proxy at what it held
// before; the refused content is not sent again until it changes.
import * as grpc from '@grpc/grpc-js';
import { byResourceName, contentVersion } from '../content-version.js';
import { WILDCARD_TYPES } from '../discovery.js';
import type { DeltaDiscoveryRequest } from '../delta-discovery.js';
import type { ProxyNode } from '../../envoy/node.js';
import type { EncodedResource } from '../snapshot-cache.js';
import { DeltaPreparer, NOTHING_HELD, type HeldMap } from './delta-diff.js';
import { typeState, type AdsStream, type DeltaAdsCall, type ProtocolHost, type TypeState } from './stream.js';

export interface DeltaTypeState extends TypeState {
  /** What the proxy holds (after the last response sent), and before it, for a NACK to restore. */
  held?: HeldMap;
  prevHeld?: HeldMap;
  /** The content a NACK refused; not sent again until it changes. */
  refused?: HeldMap;
  /** Versions of the last few responses by nonce (a delta ACK names only its nonce). */
  recent?: Map<string, string>;
  /** Nonces of the pieces before the last of the response in flight (a NACK of any refuses it). */
  pieceNonces?: Set<string>;
}

export type DeltaStream = AdsStream<DeltaTypeState> & { delta: true; call: DeltaAdsCall };

/** Whether two maps hold the same names with the same contents. */
function sameContent(a: HeldMap, b: HeldMap): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [n, r] of b) if (a.get(n)?.hash !== r.hash) return false;
  return true;
}

export class DeltaProtocol {
  private readonly deltas: DeltaPreparer;
  private readonly versions = new WeakMap<ReadonlyMap<string, EncodedResource>, string>();

  /** `maxResponseBytes`: the largest response; a larger difference goes out in several (default 64 KiB). */
  constructor(
    private readonly host: ProtocolHost<DeltaStream>,
    noncePrefix: string,
    controlPlaneId: string | undefined,
    maxResponseBytes: number | undefined,
  ) {
    this.deltas = new DeltaPreparer(noncePrefix, controlPlaneId, maxResponseBytes);
  }

  /** A request on an identified stream: subscription changes, an ACK or a NACK of a response. */
  onRequest(conn: DeltaStream, req: DeltaDiscoveryRequest): void {
    if (!req.typeUrl)
      return this.host.fail(conn, grpc.status.INVALID_ARGUMENT, 'DeltaDiscoveryRequest.type_url is required on an ADS stream');
    const node = conn.node!;
    const first = !conn.types.has(req.typeUrl);
    const st = typeState(conn, req.typeUrl);
    if (first) {
      // Envoy's legacy wildcard: a first request for LDS/CDS that names nothing subscribes to everything.
      st.wildcard =
        WILDCARD_TYPES.has(req.typeUrl) && (req.resourceNamesSubscribe.length === 0 || req.resourceNamesSubscribe.includes('*'));
      const initial = Object.entries(req.initialResourceVersions);
      // A proxy resuming after reconnect says what it holds; only what differs is sent.
      if (initial.length > 0)
        st.held = new Map(initial.map(([name, hash]) => [name, { name, hash }] as [string, { name: string; hash: string }]));
    } else {
      if (req.resourceNamesSubscribe.includes('*')) st.wildcard = true;
      if (req.resourceNamesUnsubscribe.includes('*')) st.wildcard = false;
    }
    const names = new Set(st.names);
    for (const n of req.resourceNamesSubscribe) if (n !== '*') names.add(n);
    for (const n of req.resourceNamesUnsubscribe) names.delete(n);
    st.names = [...names].sort();
    const dropped = req.resourceNamesUnsubscribe.filter((n) => n !== '*');
    if (dropped.length > 0 && st.held) {
      // The proxy forgets what it unsubscribes from; nothing is sent for it.
      const held = new Map(st.held);
      for (const n of dropped) held.delete(n);
      st.held = held;
    }
    if (req.responseNonce !== '' && req.responseNonce !== st.sentNonce && !req.errorDetail && st.recent?.has(req.responseNonce)) {
      // An ACK of an earlier response, answered after a newer one went out: the proxy runs that version.
      st.ackedVersion = st.recent.get(req.responseNonce);
    }
    // An earlier piece of the response in flight: its ACK waits for the last piece's; its NACK refuses
    // the whole response (the proxy may have applied earlier pieces: they are resent if still wanted).
    const piece = req.responseNonce !== '' && st.pieceNonces?.delete(req.responseNonce) === true;
    if ((req.responseNonce !== '' && req.responseNonce === st.sentNonce) || (piece && req.errorDetail)) {
      this.host.release(st);
      if (req.errorDetail) {
        st.nackedVersion = st.sentVersion;
        st.lastError = req.errorDetail.message;
        // The proxy kept what it had: the next response is computed from there, not from what it refused.
        st.refused = st.held;
        st.held = st.prevHeld;
        if (piece && st.sentNonce !== undefined) {
          // The later pieces' answers no longer tell anything.
          st.recent?.delete(st.sentNonce);
          st.sentNonce = undefined;
          st.pieceNonces = undefined;
        }
        this.host.log.warn('proxy rejected config (NACK); it keeps its last good config', {
          node: node.id,
          type: req.typeUrl,
          rejectedVersion: st.sentVersion,
          error: req.errorDetail.message,
        });
        this.host.events.emit('nack', { node, typeUrl: req.typeUrl, version: st.sentVersion, errorDetail: req.errorDetail });
      } else {
        st.ackedVersion = st.sentVersion;
        st.lastError = undefined;
        st.nackedVersion = undefined;
        st.refused = undefined;
        this.host.events.emit('ack', { node, typeUrl: req.typeUrl, version: st.sentVersion, nonce: req.responseNonce });
      }
    }
    this.host.respond(conn, req.typeUrl);
  }

  /**
   * Sends what changed between what the proxy holds and its selection now (authorize.ts: undefined for
   * everything in `byName`). A first wildcard request is always answered (an empty response tells the
   * proxy there is nothing of the type).
   */
  respond(
    conn: DeltaStream,
    st: DeltaTypeState,
    node: ProxyNode,
    typeUrl: string,
    byName: ReadonlyMap<string, EncodedResource>,
    selected: EncodedResource[] | undefined,
  ): void {
    const wanted: ReadonlyMap<string, EncodedResource> = selected ? new Map(selected.map((r) => [r.name, r])) : byName;
    if (st.refused && sameContent(st.refused, wanted)) return; // refused by a NACK; wait for different content
    const version = this.versionOf(typeUrl, wanted, selected === undefined);
    let prepared = this.deltas.prepare(typeUrl, st.held ?? NOTHING_HELD, wanted, version);
    if (!prepared) {
      // Nothing to send and nothing unanswered: the proxy holds exactly this — resumed with it (it said
      // so in initial_resource_versions), or back at what it kept after a NACK now that config is too.
      if (st.held !== undefined && st.inFlight === undefined && st.sentVersion !== version) {
        st.sentVersion = st.ackedVersion = version;
        st.nackedVersion = undefined;
        st.lastError = undefined;
      }
      if (st.sentNonce !== undefined || !st.wildcard) {
        st.held = wanted;
        return;
      }
      prepared = this.deltas.empty(typeUrl, version);
    }
    if (!this.host.take(conn, st, typeUrl, prepared.bytes)) return;
    st.prevHeld = st.held ?? NOTHING_HELD;
    st.held = wanted;
    st.sentVersion = version;
    st.sentNonce = prepared.nonce;
    st.pieceNonces = prepared.pieces.length > 1 ? new Set(prepared.pieces.slice(0, -1).map((p) => p.nonce)) : undefined;
    st.recent ??= new Map();
    st.recent.set(prepared.nonce, version);
    if (st.recent.size > 8) st.recent.delete(st.recent.keys().next().value as string);
    st.sentCount = prepared.changed;
    for (const piece of prepared.pieces) conn.writer.send(piece.message);
    this.host.log.debug('pushed', {
      node: node.id,
      type: typeUrl,
      version,
      nonce: prepared.nonce,
      changed: prepared.changed,
      removed: prepared.removed,
      pieces: prepared.pieces.length,
    });
    const events = this.host.events;
    if (events.listenerCount('push') > 0)
      events.emit('push', {
        node,
        typeUrl,
        version,
        nonce: prepared.nonce,
        delta: true,
        changed: prepared.changed,
        removed: prepared.removed,
      });
  }

  /** The version of a type's content: a hash of names and content hashes (cached for shared maps). */
  private versionOf(typeUrl: string, m: ReadonlyMap<string, EncodedResource>, shared: boolean): string {
    const cached = shared ? this.versions.get(m) : undefined;
    if (cached) return cached;
    const v = contentVersion(typeUrl, [...m.values()].sort(byResourceName));
    if (shared) this.versions.set(m, v);
    return v;
  }
}
