// The ADS server: envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources,
// state of the world, per Envoy's xDS protocol (api/xds_protocol): every response carries a version and
// a nonce; a request echoing the latest nonce ACKs (no error_detail) or NACKs (error_detail) that
// version; a request with an older nonce is stale and ignored; LDS, CDS and NDS are wildcard, EDS and
// SDS are named subscriptions. Watches are answered from the SnapshotCache whenever the content a
// proxy subscribes to changes: the version of a response is a hash of exactly the resources it holds,
// so an unrelated change never pushes and a reconnecting proxy that already holds the current content
// (its request's version_info) is not sent it again. A NACKed version is never resent; the proxy keeps
// its last good config and the next different content is pushed when it exists. The incremental form
// (DeltaAggregatedResources) sends differences, a large one in several responses (delta-diff.ts). Each
// stream writes one message at a time, the next once the previous has reached the socket. A node id
// belongs to the identity that first proved it (node-binding.ts); another identity is refused.
import { EventEmitter } from 'node:events';
import { contentVersion } from './content-version.js';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from './envoy-types.js';
import { NameTableTypeUrl } from './name-table.js';
import type { ProxyNode } from './node.js';
import { proxyNodeFromMessage } from './node-message.js';
import { adsServiceDefinition, encodeAnyList, encodeDiscoveryResponse, WILDCARD_TYPES, type DiscoveryRequest, type DiscoveryResponse } from './discovery.js';
import type { EncodedResource, SnapshotCache } from './snapshot-cache.js';
import { deltaAdsMethod, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse } from './delta-discovery.js';
import { DeltaPreparer, NOTHING_HELD, type HeldMap } from './delta-diff.js';
import type { NodeMessage } from './node-message.js';
import type { AuthenticatableCall, PeerIdentity } from './peer-identity.js';
import { NodeIdentityBindings, type NodeBindingOptions } from './node-binding.js';
import { spiffeId } from './node.js';
import { silentLogger, type Logger } from './log.js';

export { WILDCARD_TYPES } from './discovery.js';
/** Istio's push order: clusters before the endpoints and listeners that use them. */
export const PUSH_ORDER: readonly string[] = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.Secret, NameTableTypeUrl];

/** Responses go out as DiscoveryResponse objects or already serialised (see PreparedSelection). */
export type AdsCall = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse | Buffer>;
export type DeltaAdsCall = grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse | Buffer>;

export interface AdsServerOptions {
  cache: SnapshotCache;
  /** Proves who the peer is; throw to refuse the stream (UNAUTHENTICATED). */
  authenticate: (call: AuthenticatableCall) => Promise<PeerIdentity>;
  /** Whether this proxy may receive this resource; SDS secrets are filtered by it. Default: allow all. */
  authorizeResource?: (node: ProxyNode, peer: PeerIdentity, typeUrl: string, name: string) => boolean;
  /**
   * The types `authorizeResource` decides (default: every type). The others are sent without asking it:
   * a push of a thousand clusters to thousands of proxies would otherwise ask it millions of times.
   */
  authorizedTypes?: readonly string[];
  /** Sent as DiscoveryResponse.control_plane.identifier. */
  controlPlaneId?: string;
  /**
   * What a stream's snapshot is stored under in the cache: its node id (default; every stream of a node
   * shares one snapshot), or its connection id, for a control plane that builds each stream's config
   * from that stream's own node (a proxy reconnecting with new labels while its old stream lingers).
   */
  snapshotKey?: 'node' | 'connection';
  /** How long a node id stays bound to its identity after its last stream, and how many such are kept. */
  nodeBinding?: NodeBindingOptions;
  /**
   * Bytes of responses in flight at once across all streams (default 64 MiB; istiod bounds the same
   * thing by count, PILOT_PUSH_THROTTLE): a response is in flight from its write until the proxy ACKs
   * or NACKs it, its stream ends, or `inFlightTimeoutMs` passes. The rest wait their turn and then send
   * the latest content, so a first push of a large mesh to thousands of proxies never holds thousands
   * of serialised responses in memory, while small incremental changes go to all of them at once. A
   * response larger than the whole budget is sent when nothing else is in flight.
   */
  maxInFlightBytes?: number;
  /** How long one unanswered response may hold its place (default 15 s). */
  inFlightTimeoutMs?: number;
  /** Delta: the largest response; a larger difference goes out in several (see delta-diff.ts; default 64 KiB). */
  maxDeltaResponseBytes?: number;
  logger?: Logger;
}

/**
 * One type's resources in name order, their version (a hash of names and contents), and — built on
 * first use, since most requests (ACKs) only compare versions — the whole DiscoveryResponse serialised
 * once for every stream it goes to. Its nonce is unique to this prepared object, so it is unique on
 * every stream it is sent on: a stream is never sent the same prepared response twice (the version
 * would not have changed).
 */
interface PreparedSelection {
  resources: EncodedResource[];
  version: string;
  wire(): { nonce: string; message: Buffer };
}

/** Whether two maps hold the same names with the same contents. */
function sameContent(a: HeldMap, b: HeldMap): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [n, r] of b) if (a.get(n)?.hash !== r.hash) return false;
  return true;
}

function byResourceName(a: EncodedResource, b: EncodedResource): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export interface TypeStatus {
  /** Resource names subscribed to; empty for a wildcard subscription. */
  names: string[];
  wildcard: boolean;
  sentVersion?: string;
  sentNonce?: string;
  sentCount?: number;
  ackedVersion?: string;
  nackedVersion?: string;
  lastError?: string;
}

export interface ConnectionStatus {
  connectionId: string;
  /** The key of this stream's snapshot in the cache (its node id or its connection id). */
  snapshotKey: string;
  peerAddress: string;
  node: ProxyNode;
  peer: PeerIdentity;
  connectedAt: Date;
  types: Record<string, TypeStatus>;
}

interface TypeState extends TypeStatus {
  denied: Set<string>;
  /** Set while a response of this type holds part of the in-flight budget (until ACK/NACK, stream end or timeout). */
  inFlight?: NodeJS.Timeout;
  inFlightBytes?: number;
  /** Delta: what the proxy holds (after the last response sent), and before it, for a NACK to restore. */
  held?: HeldMap;
  prevHeld?: HeldMap;
  /** Delta: the content a NACK refused; not sent again until it changes. */
  refused?: HeldMap;
  /** Delta: versions of the last few responses by nonce (a delta ACK names only its nonce). */
  recent?: Map<string, string>;
  /** Delta: nonces of the pieces before the last of the response in flight (a NACK of any refuses it). */
  pieceNonces?: Set<string>;
  /** Wildcard: a snapshot map every resource of which this proxy was found allowed to receive. */
  allowedMap?: ReadonlyMap<string, EncodedResource>;
}

interface Connection {
  id: string;
  call: AdsCall | DeltaAdsCall;
  /** Incremental xDS (DeltaAggregatedResources) rather than state of the world. */
  delta: boolean;
  node?: ProxyNode;
  peer?: PeerIdentity;
  /** Where this stream's snapshot is in the cache; set with `node`. */
  key?: string;
  /** Holds its node id's binding to its identity (released when the stream ends). */
  bound: boolean;
  connectedAt: Date;
  types: Map<string, TypeState>;
  closed: boolean;
  /** Types waiting for in-flight budget. */
  queued: Set<string>;
  /**
   * Serialised responses waiting for the one being written: each is written when the previous one has
   * reached the socket, so the TLS layer is never handed more than one response at a time.
   */
  out: Buffer[];
  writing: boolean;
}

export class AdsServer extends EventEmitter {
  private readonly cache: SnapshotCache;
  private readonly log: Logger;
  private readonly connections = new Set<Connection>();
  private nextConnection = 0;
  private nextNonce = 0;
  private inFlightBytes = 0;
  /** Streams by snapshot key: a snapshot update finds its proxy's streams without scanning them all. */
  private readonly byKey = new Map<string, Set<Connection>>();
  /** Streams by node id, oldest first. */
  private readonly byNode = new Map<string, Set<Connection>>();
  private readonly bindings: NodeIdentityBindings;
  private readonly waiting: Connection[] = [];
  /** Distinguishes this server's nonces from an earlier instance's (a proxy may reconnect holding one). */
  private readonly noncePrefix = Date.now().toString(36);
  /** Every resource of one snapshot type, prepared once however many proxies share the snapshot. */
  private readonly fullSelections = new WeakMap<ReadonlyMap<string, EncodedResource>, PreparedSelection>();
  private readonly versions = new WeakMap<ReadonlyMap<string, EncodedResource>, string>();
  private readonly deltas: DeltaPreparer;

  constructor(private readonly opts: AdsServerOptions) {
    super();
    this.cache = opts.cache;
    this.log = opts.logger ?? silentLogger;
    this.cache.on('updated', (nodeId: string) => this.onSnapshot(nodeId));
    this.deltas = new DeltaPreparer(this.noncePrefix, opts.controlPlaneId, opts.maxDeltaResponseBytes);
    this.bindings = new NodeIdentityBindings(opts.nodeBinding);
  }

  /** Registers the ADS service on a gRPC server (which may also serve the CA, as istiod does on 15012). */
  addToServer(server: grpc.Server): void {
    server.addService(
      { ...adsServiceDefinition, DeltaAggregatedResources: deltaAdsMethod },
      {
        StreamAggregatedResources: (call: AdsCall) => this.handleStream(call, false),
        DeltaAggregatedResources: (call: DeltaAdsCall) => this.handleStream(call, true),
      },
    );
  }

  /** Every connected, authenticated proxy and what it has been sent and has ACKed per type. */
  connectionStatus(): ConnectionStatus[] {
    const out: ConnectionStatus[] = [];
    for (const c of this.connections) {
      if (!c.node || !c.peer) continue;
      const types: Record<string, TypeStatus> = {};
      for (const [t, s] of c.types) {
        const { denied: _denied, recent: _recent, allowedMap: _allowed, inFlight: _inFlight, inFlightBytes: _bytes, held: _held, prevHeld: _prevHeld, refused: _refused, ...status } = s;
        types[t] = { ...status, names: [...status.names] };
      }
      out.push({ connectionId: c.id, snapshotKey: c.key ?? c.node.id, peerAddress: c.call.getPeer(), node: c.node, peer: c.peer, connectedAt: c.connectedAt, types });
    }
    return out;
  }

  /** The snapshot key of the newest stream of `nodeId` (what `/debug/config_dump?proxyID=` shows). */
  snapshotKeyOf(nodeId: string): string | undefined {
    let key: string | undefined;
    for (const c of this.byNode.get(nodeId) ?? []) key = c.key;
    return key;
  }

  /** Ends every stream with UNAVAILABLE (shutdown); proxies reconnect to another instance or later. */
  closeAllStreams(reason = 'control plane shutting down'): void {
    for (const c of [...this.connections]) this.fail(c, grpc.status.UNAVAILABLE, reason);
  }

  private handleStream(call: AdsCall | DeltaAdsCall, delta: boolean): void {
    const conn: Connection = { id: `c${++this.nextConnection}`, call, delta, bound: false, connectedAt: new Date(), types: new Map(), closed: false, queued: new Set(), out: [], writing: false };
    this.connections.add(conn);
    const pending: (DiscoveryRequest | DeltaDiscoveryRequest)[] = [];
    const handle = (req: DiscoveryRequest | DeltaDiscoveryRequest): void => (delta ? this.onDeltaRequest(conn, req as DeltaDiscoveryRequest) : this.onRequest(conn, req as DiscoveryRequest));
    let ready = false;
    const cleanup = (): void => {
      if (conn.closed) return;
      conn.closed = true;
      this.connections.delete(conn);
      if (conn.node) {
        unindex(this.byNode, conn.node.id, conn);
        unindex(this.byKey, conn.key!, conn);
      }
      if (conn.bound) this.bindings.release(conn.node!.id);
      for (const st of conn.types.values()) this.release(st);
      if (conn.node) {
        this.log.info('proxy disconnected', { connection: conn.id, node: conn.node.id });
        this.emit('disconnected', { connectionId: conn.id, node: conn.node, peer: conn.peer });
      }
    };
    call.on('data', (req: DiscoveryRequest | DeltaDiscoveryRequest) => {
      if (conn.closed) return;
      if (!ready) pending.push(req);
      else handle(req);
    });
    call.on('end', () => {
      cleanup();
      call.end();
    });
    call.on('cancelled', cleanup);
    call.on('close', cleanup);
    call.on('error', (err: Error) => {
      this.log.debug('stream error', { connection: conn.id, error: err.message });
      cleanup();
    });
    this.opts.authenticate(call).then(
      (peer) => {
        if (conn.closed) return;
        conn.peer = peer;
        ready = true;
        for (const req of pending.splice(0)) handle(req);
      },
      (err: unknown) => {
        const msg = (err as Error).message ?? String(err);
        this.log.warn('xDS stream refused: not authenticated', { connection: conn.id, peer: call.getPeer(), error: msg });
        this.emit('unauthenticated', { peerAddress: call.getPeer(), error: msg });
        this.fail(conn, grpc.status.UNAUTHENTICATED, msg);
      },
    );
  }

  private fail(conn: Connection, code: grpc.status, details: string): void {
    if (conn.closed) return;
    const err = Object.assign(new Error(details), { code, details });
    conn.call.emit('error', err);
  }

  /** The first request on a stream names the proxy; returns false when the stream was refused. */
  private identify(conn: Connection, nodeMsg: NodeMessage | undefined): boolean {
    if (conn.node) return true;
    if (!nodeMsg) {
      this.fail(conn, grpc.status.INVALID_ARGUMENT, 'the first request on an ADS stream must carry node');
      return false;
    }
    let node: ProxyNode;
    try {
      node = proxyNodeFromMessage(nodeMsg);
    } catch (err) {
      this.fail(conn, grpc.status.INVALID_ARGUMENT, (err as Error).message);
      return false;
    }
    const peer = conn.peer!;
    // As istiod does: the identity a proxy claims in its node metadata must be the one it proved.
    if (peer.namespace !== node.namespace || peer.serviceAccount !== node.serviceAccount) {
      const msg = `node ${node.id} claims ${node.namespace}/${node.serviceAccount} but authenticated as ${peer.namespace}/${peer.serviceAccount}`;
      this.log.warn('xDS stream refused: identity mismatch', { connection: conn.id, error: msg });
      this.emit('unauthenticated', { peerAddress: conn.call.getPeer(), error: msg });
      this.fail(conn, grpc.status.PERMISSION_DENIED, msg);
      return false;
    }
    // The node id is this identity's while any of its streams is open and for a while after (see
    // node-binding.ts): another workload reusing it would otherwise replace the proxy's node, and so
    // choose its listeners and policies, for as long as it stays connected and beyond.
    const identity = spiffeId(peer.trustDomain ?? '', peer.namespace, peer.serviceAccount);
    const binding = this.bindings.acquire(node.id, identity);
    if (!binding.bound) {
      const msg = `node id ${node.id} belongs to ${binding.owner}; ${identity} may not use it`;
      this.log.warn('xDS stream refused: node id bound to another identity', { connection: conn.id, peer: conn.call.getPeer(), node: node.id, identity, owner: binding.owner });
      this.emit('unauthenticated', { peerAddress: conn.call.getPeer(), error: msg, reason: 'node-id-bound' });
      this.fail(conn, grpc.status.PERMISSION_DENIED, msg);
      return false;
    }
    conn.bound = true;
    conn.node = node;
    conn.key = this.opts.snapshotKey === 'connection' ? conn.id : node.id;
    index(this.byNode, node.id, conn);
    index(this.byKey, conn.key, conn);
    this.log.info('proxy connected', { connection: conn.id, node: node.id, peer: conn.call.getPeer(), identity: `${peer.namespace}/${peer.serviceAccount}`, auth: peer.method, delta: conn.delta });
    this.emit('connected', { connectionId: conn.id, node, peer });
    return !conn.closed;
  }

  private typeState(conn: Connection, typeUrl: string): TypeState {
    let st = conn.types.get(typeUrl);
    if (!st) {
      st = { names: [], wildcard: WILDCARD_TYPES.has(typeUrl), denied: new Set() };
      conn.types.set(typeUrl, st);
    }
    return st;
  }

  private onRequest(conn: Connection, req: DiscoveryRequest): void {
    if (!this.identify(conn, req.node)) return;
    if (!req.typeUrl) return this.fail(conn, grpc.status.INVALID_ARGUMENT, 'DiscoveryRequest.type_url is required on an ADS stream');
    const st = this.typeState(conn, req.typeUrl);
    const node = conn.node!;
    if (req.responseNonce !== '' && st.sentNonce !== undefined && req.responseNonce !== st.sentNonce) {
      // xDS protocol: a request with a stale nonce is superseded by the response already in flight.
      this.log.debug('stale nonce ignored', { node: node.id, type: req.typeUrl, nonce: req.responseNonce, latest: st.sentNonce });
      return;
    }
    if (req.responseNonce !== '' && req.responseNonce === st.sentNonce) {
      this.release(st);
      if (req.errorDetail) {
        st.nackedVersion = st.sentVersion;
        st.lastError = req.errorDetail.message;
        // A NACK's version_info is the last version the proxy accepted (and still runs).
        if (req.versionInfo !== '') st.ackedVersion = req.versionInfo;
        this.log.warn('proxy rejected config (NACK); it keeps its last good config', {
          node: node.id, type: req.typeUrl, rejectedVersion: st.sentVersion, keptVersion: req.versionInfo, error: req.errorDetail.message,
        });
        this.emit('nack', { node, typeUrl: req.typeUrl, version: st.sentVersion, errorDetail: req.errorDetail });
      } else {
        st.ackedVersion = req.versionInfo;
        st.lastError = undefined;
        st.nackedVersion = undefined;
        this.emit('ack', { node, typeUrl: req.typeUrl, version: req.versionInfo, nonce: req.responseNonce });
      }
    } else if (req.versionInfo !== '') {
      // A proxy resuming after reconnect tells us what it already holds.
      st.ackedVersion = req.versionInfo;
    }
    const names = req.resourceNames.filter((n) => n !== '*');
    st.wildcard = WILDCARD_TYPES.has(req.typeUrl) && (req.resourceNames.length === 0 || req.resourceNames.includes('*'));
    st.names = st.wildcard ? [] : [...new Set(names)].sort();
    this.respond(conn, req.typeUrl);
  }

  private onSnapshot(key: string): void {
    for (const conn of this.byKey.get(key) ?? []) {
      if (conn.closed) continue;
      const order = [...PUSH_ORDER.filter((t) => conn.types.has(t)), ...[...conn.types.keys()].filter((t) => !PUSH_ORDER.includes(t))];
      for (const t of order) this.respond(conn, t);
    }
  }

  private fullSelection(typeUrl: string, byName: ReadonlyMap<string, EncodedResource>): PreparedSelection {
    let p = this.fullSelections.get(byName);
    if (!p) {
      p = this.prepare(typeUrl, [...byName.values()].sort(byResourceName));
      this.fullSelections.set(byName, p);
    }
    return p;
  }

  /**
   * What `conn` is subscribed to of `typeUrl` and may receive: undefined for everything in `byName`
   * (shared by every proxy given the same map), else the resources, unsorted.
   */
  private select(conn: Connection, st: TypeState, node: ProxyNode, typeUrl: string, byName: ReadonlyMap<string, EncodedResource>): EncodedResource[] | undefined {
    // Everything, as last time: nothing to filter or check again (a push to thousands of proxies asks this
    // for every response and every ACK).
    if (st.wildcard && st.allowedMap === byName) return undefined;
    const authorize = this.opts.authorizeResource;
    const authorizing = authorize !== undefined && conn.peer !== undefined && (this.opts.authorizedTypes === undefined || this.opts.authorizedTypes.includes(typeUrl));
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
    const peer = conn.peer;
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
      if (!st.wildcard) for (const n of st.names) if (!byName.has(n) && !st.denied.has(n) && !authorize(node, peer, typeUrl, n)) this.deny(st, node, peer, typeUrl, n);
    }
    if (full && st.wildcard) st.allowedMap = byName;
    return full ? undefined : selected;
  }

  /** Withholds `name` from this stream; logged and emitted once per name and stream. */
  private deny(st: TypeState, node: ProxyNode, peer: PeerIdentity, typeUrl: string, name: string): void {
    if (st.denied.has(name)) return;
    st.denied.add(name);
    this.log.warn('resource withheld: proxy not authorized for it', { node: node.id, identity: `${peer.namespace}/${peer.serviceAccount}`, type: typeUrl, resource: name });
    this.emit('denied', { node, peer, typeUrl, name });
  }

  private respond(conn: Connection, typeUrl: string): void {
    const st = conn.types.get(typeUrl);
    const node = conn.node;
    if (!st || !node || conn.closed) return;
    const snapshot = this.cache.getEncoded(conn.key!);
    if (!snapshot) return; // the watch stays open until the control plane has built this proxy's snapshot
    const byName = snapshot.resources.get(typeUrl) ?? new Map<string, EncodedResource>();
    const selected = this.select(conn, st, node, typeUrl, byName);
    if (conn.delta) this.respondDelta(conn, st, node, typeUrl, byName, selected);
    else this.respondSotw(conn, st, node, typeUrl, selected ? this.prepare(typeUrl, selected.sort(byResourceName)) : this.fullSelection(typeUrl, byName));
  }

  private respondSotw(conn: Connection, st: TypeState, node: ProxyNode, typeUrl: string, sel: PreparedSelection): void {
    const version = sel.version;
    if (st.sentVersion === undefined) {
      if (st.ackedVersion === version) {
        st.sentVersion = version; // resumed: the proxy already holds exactly this
        return;
      }
      // A named subscription with nothing to send yet waits (Envoy's initial_fetch_timeout applies).
      if (!st.wildcard && sel.resources.length === 0) return;
    } else if (st.sentVersion === version) {
      return;
    }
    const { nonce, message } = sel.wire();
    if (!this.takeSlot(conn, st, typeUrl, message.length)) return;
    st.sentVersion = version;
    st.sentNonce = nonce;
    st.sentCount = sel.resources.length;
    this.send(conn, message);
    this.log.debug('pushed', { node: node.id, type: typeUrl, version, nonce, resources: sel.resources.length });
    if (this.listenerCount('push') > 0) this.emit('push', { node, typeUrl, version, nonce, names: sel.resources.map((r) => r.name) });
  }

  /**
   * Delta: send what changed between what the proxy holds and its selection now. A first wildcard
   * request is always answered (an empty response tells the proxy there is nothing of the type).
   */
  private respondDelta(conn: Connection, st: TypeState, node: ProxyNode, typeUrl: string, byName: ReadonlyMap<string, EncodedResource>, selected: EncodedResource[] | undefined): void {
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
    if (!this.takeSlot(conn, st, typeUrl, prepared.bytes)) return;
    st.prevHeld = st.held ?? NOTHING_HELD;
    st.held = wanted;
    st.sentVersion = version;
    st.sentNonce = prepared.nonce;
    st.pieceNonces = prepared.pieces.length > 1 ? new Set(prepared.pieces.slice(0, -1).map((p) => p.nonce)) : undefined;
    st.recent ??= new Map();
    st.recent.set(prepared.nonce, version);
    if (st.recent.size > 8) st.recent.delete(st.recent.keys().next().value as string);
    st.sentCount = prepared.changed;
    for (const piece of prepared.pieces) this.send(conn, piece.message);
    this.log.debug('pushed', { node: node.id, type: typeUrl, version, nonce: prepared.nonce, changed: prepared.changed, removed: prepared.removed, pieces: prepared.pieces.length });
    if (this.listenerCount('push') > 0) this.emit('push', { node, typeUrl, version, nonce: prepared.nonce, delta: true, changed: prepared.changed, removed: prepared.removed });
  }

  /** The version of a type's content: a hash of names and content hashes (cached for shared maps). */
  private versionOf(typeUrl: string, m: ReadonlyMap<string, EncodedResource>, shared: boolean): string {
    const cached = shared ? this.versions.get(m) : undefined;
    if (cached) return cached;
    const v = contentVersion(typeUrl, [...m.values()].sort(byResourceName));
    if (shared) this.versions.set(m, v);
    return v;
  }

  private onDeltaRequest(conn: Connection, req: DeltaDiscoveryRequest): void {
    if (!this.identify(conn, req.node)) return;
    if (!req.typeUrl) return this.fail(conn, grpc.status.INVALID_ARGUMENT, 'DeltaDiscoveryRequest.type_url is required on an ADS stream');
    const node = conn.node!;
    const first = !conn.types.has(req.typeUrl);
    const st = this.typeState(conn, req.typeUrl);
    if (first) {
      // Envoy's legacy wildcard: a first request for LDS/CDS that names nothing subscribes to everything.
      st.wildcard = WILDCARD_TYPES.has(req.typeUrl) && (req.resourceNamesSubscribe.length === 0 || req.resourceNamesSubscribe.includes('*'));
      const initial = Object.entries(req.initialResourceVersions);
      // A proxy resuming after reconnect says what it holds; only what differs is sent.
      if (initial.length > 0) st.held = new Map(initial.map(([name, hash]) => [name, { name, hash }] as [string, { name: string; hash: string }]));
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
      this.release(st);
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
        this.log.warn('proxy rejected config (NACK); it keeps its last good config', { node: node.id, type: req.typeUrl, rejectedVersion: st.sentVersion, error: req.errorDetail.message });
        this.emit('nack', { node, typeUrl: req.typeUrl, version: st.sentVersion, errorDetail: req.errorDetail });
      } else {
        st.ackedVersion = st.sentVersion;
        st.lastError = undefined;
        st.nackedVersion = undefined;
        st.refused = undefined;
        this.emit('ack', { node, typeUrl: req.typeUrl, version: st.sentVersion, nonce: req.responseNonce });
      }
    }
    this.respond(conn, req.typeUrl);
  }

  private get budget(): number {
    return this.opts.maxInFlightBytes ?? 64 * 1024 * 1024;
  }

  /** Takes `bytes` of the in-flight budget for this type, or queues the stream; false when it has to wait. */
  private takeSlot(conn: Connection, st: TypeState, typeUrl: string, bytes: number): boolean {
    // A response superseding one still unanswered takes over that one's share.
    const others = this.inFlightBytes - (st.inFlightBytes ?? 0);
    if (others > 0 && others + bytes > this.budget) {
      // Its turn comes when the budget frees; it then sends whatever is current.
      if (conn.queued.size === 0) this.waiting.push(conn);
      conn.queued.add(typeUrl);
      return false;
    }
    if (st.inFlight !== undefined) clearTimeout(st.inFlight);
    this.inFlightBytes = others + bytes;
    st.inFlightBytes = bytes;
    st.inFlight = setTimeout(() => this.release(st), this.opts.inFlightTimeoutMs ?? 15_000);
    st.inFlight.unref();
    return true;
  }

  private send(conn: Connection, message: Buffer): void {
    conn.out.push(message);
    if (!conn.writing) this.writeNext(conn);
  }

  private writeNext(conn: Connection): void {
    const message = conn.out.shift();
    if (message === undefined || conn.closed) {
      conn.writing = false;
      conn.out.length = 0;
      return;
    }
    conn.writing = true;
    (conn.call as { write(b: Buffer, cb: () => void): boolean }).write(message, () => this.writeNext(conn));
  }

  /** `resources` in name order, prepared for the wire (see PreparedSelection). */
  private prepare(typeUrl: string, resources: EncodedResource[]): PreparedSelection {
    const version = contentVersion(typeUrl, resources);
    let wire: { nonce: string; message: Buffer } | undefined;
    return {
      resources,
      version,
      wire: () => {
        if (!wire) {
          const nonce = `${this.noncePrefix}-${++this.nextNonce}`;
          const res: DiscoveryResponse = { versionInfo: version, resources: [], encodedResources: encodeAnyList(typeUrl, resources.map((r) => r.value)), typeUrl, nonce };
          if (this.opts.controlPlaneId) res.controlPlaneId = this.opts.controlPlaneId;
          wire = { nonce, message: encodeDiscoveryResponse(res) };
        }
        return wire;
      },
    };
  }

  /** Frees the budget a type's unanswered response holds, and hands it to waiting streams. */
  private release(st: TypeState): void {
    if (st.inFlight === undefined) return;
    clearTimeout(st.inFlight);
    st.inFlight = undefined;
    this.inFlightBytes -= st.inFlightBytes ?? 0;
    st.inFlightBytes = undefined;
    this.drain();
  }

  /** Gives the freed budget to waiting streams, oldest first, in Istio's type order. */
  private drain(): void {
    // First come, first served: when the stream at the head still does not fit, it goes back to the
    // head of the line and the drain stops until more budget frees.
    while (this.inFlightBytes < this.budget && this.waiting.length > 0) {
      const conn = this.waiting.shift() as Connection;
      const types = [...conn.queued];
      conn.queued.clear();
      if (conn.closed) continue;
      const order = [...PUSH_ORDER.filter((t) => types.includes(t)), ...types.filter((t) => !PUSH_ORDER.includes(t))];
      for (const t of order) this.respond(conn, t);
      if (conn.queued.size > 0) {
        const i = this.waiting.lastIndexOf(conn);
        if (i >= 0) this.waiting.splice(i, 1);
        this.waiting.unshift(conn);
        break;
      }
    }
  }
}

function index(m: Map<string, Set<Connection>>, key: string, conn: Connection): void {
  let set = m.get(key);
  if (!set) m.set(key, (set = new Set()));
  set.add(conn);
}

function unindex(m: Map<string, Set<Connection>>, key: string, conn: Connection): void {
  const set = m.get(key);
  set?.delete(conn);
  if (set?.size === 0) m.delete(key);
}
