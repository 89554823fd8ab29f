// The ADS server: envoy.service.discovery.v3.AggregatedDiscoveryService, state of the world
// (StreamAggregatedResources, sotw.ts) and incremental (DeltaAggregatedResources, delta.ts), on streams
// that must prove an identity and whose node id belongs to the identity that first proved it (stream.ts,
// node-binding.ts). Watches are answered from the SnapshotCache whenever the content a proxy subscribes
// to changes, in Istio's push order, with what the proxy may receive (authorize.ts), within a budget of
// bytes in flight across all streams (push-throttle.ts); each stream writes one message at a time, the
// next once the previous has reached the socket (stream-writer.ts).
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '../../envoy/envoy-types.js';
import { NameTableTypeUrl } from '../../envoy/name-table.js';
import type { ProxyNode } from '../../envoy/node.js';
import { adsServiceDefinition, type DiscoveryRequest } from '../discovery.js';
import type { EncodedResource, SnapshotCache } from '../snapshot-cache.js';
import { deltaAdsMethod, type DeltaDiscoveryRequest } from '../delta-discovery.js';
import type { AuthenticatableCall, PeerIdentity } from '../peer-identity.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import type { NodeBindingOptions } from './node-binding.js';
import { ResourceSelector } from './authorize.js';
import { PushThrottle } from './push-throttle.js';
import {
  AdsStreams,
  typeStatus,
  type AdsCall,
  type AdsStream,
  type ConnectionStatus,
  type DeltaAdsCall,
  type ProtocolHost,
  type TypeState,
  type TypeStatus,
} from './stream.js';
import { SotwProtocol, type SotwStream } from './sotw.js';
import { DeltaProtocol, type DeltaStream } from './delta.js';

export { WILDCARD_TYPES } from '../discovery.js';
export type { AdsCall, ConnectionStatus, DeltaAdsCall, TypeStatus } from './stream.js';

/** Istio's push order: clusters before the endpoints and listeners that use them. */
export const PUSH_ORDER: readonly string[] = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.Secret,
  NameTableTypeUrl,
];

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
   * Checks a node's claims against what the control plane knows (the pod it names runs as the proven
   * service account): a refusal reason, or undefined to accept. Runs after the node's claimed identity
   * matched the proven one and before the node id is bound to it.
   */
  verifyNode?: (node: ProxyNode, peer: PeerIdentity) => string | undefined;
  /**
   * Bytes of responses in flight at once across all streams (default 64 MiB; istiod bounds the same
   * thing by count, PILOT_PUSH_THROTTLE): a response is in flight from its write until the proxy ACKs
   * or NACKs it, its stream ends, or `inFlightTimeoutMs` passes. The rest wait their turn and then send
   * the latest content (see push-throttle.ts).
   */
  maxInFlightBytes?: number;
  /** How long one unanswered response may hold its place (default 15 s). */
  inFlightTimeoutMs?: number;
  /** Delta: the largest response; a larger difference goes out in several (see delta-diff.ts; default 64 KiB). */
  maxDeltaResponseBytes?: number;
  logger?: Logger;
}

type Stream = SotwStream | DeltaStream;

/** How a protocol answers one subscription with its selection (sotw.ts, delta.ts). */
interface Responder<S extends TypeState> {
  respond(
    conn: AdsStream<S>,
    st: S,
    node: ProxyNode,
    typeUrl: string,
    byName: ReadonlyMap<string, EncodedResource>,
    selected: EncodedResource[] | undefined,
  ): void;
}

/**
 * Events: 'connected', 'disconnected', 'unauthenticated' (stream.ts), 'push', 'ack', 'nack' (sotw.ts,
 * delta.ts), 'denied' (authorize.ts).
 */
export class AdsServer extends EventEmitter {
  private readonly cache: SnapshotCache;
  private readonly streams: AdsStreams<Stream>;
  private readonly throttle: PushThrottle<Stream>;
  private readonly selector: ResourceSelector;
  private readonly sotw: SotwProtocol;
  private readonly delta: DeltaProtocol;

  constructor(opts: AdsServerOptions) {
    super();
    const log = opts.logger ?? silentLogger;
    this.cache = opts.cache;
    this.cache.on('updated', (key: string) => this.onSnapshot(key));
    this.throttle = new PushThrottle<Stream>(opts, (conn, types) => this.respondInOrder(conn, types));
    this.streams = new AdsStreams<Stream>(opts, log, this, this.throttle);
    this.selector = new ResourceSelector(opts, log, this);
    const host: ProtocolHost<Stream> = {
      log,
      events: this,
      take: (conn, slot, typeUrl, bytes) => this.throttle.take(conn, slot, typeUrl, bytes),
      release: (slot) => this.throttle.release(slot),
      fail: (conn, code, details) => this.streams.fail(conn, code, details),
      respond: (conn, typeUrl) => this.respond(conn, typeUrl),
    };
    // Distinguishes this server's nonces from an earlier instance's (a proxy may reconnect holding one).
    const noncePrefix = Date.now().toString(36);
    this.sotw = new SotwProtocol(host, noncePrefix, opts.controlPlaneId);
    this.delta = new DeltaProtocol(host, noncePrefix, opts.controlPlaneId, opts.maxDeltaResponseBytes);
  }

  /** Registers the ADS service on a gRPC server (which may also serve the CA, as istiod does on 15012). */
  addToServer(server: grpc.Server): void {
    server.addService(
      { ...adsServiceDefinition, DeltaAggregatedResources: deltaAdsMethod },
      {
        StreamAggregatedResources: (call: AdsCall) =>
          this.streams.open<SotwStream, DiscoveryRequest>(call, false, (conn, req) => this.sotw.onRequest(conn, req)),
        DeltaAggregatedResources: (call: DeltaAdsCall) =>
          this.streams.open<DeltaStream, DeltaDiscoveryRequest>(call, true, (conn, req) => this.delta.onRequest(conn, req)),
      },
    );
  }

  /** Every connected, authenticated proxy and what it has been sent and has ACKed per type. */
  connectionStatus(): ConnectionStatus[] {
    const out: ConnectionStatus[] = [];
    for (const c of this.streams.all) {
      if (!c.node || !c.peer) continue;
      const types: Record<string, TypeStatus> = {};
      for (const [t, s] of c.types) types[t] = typeStatus(s);
      out.push({
        connectionId: c.id,
        snapshotKey: c.key ?? c.node.id,
        peerAddress: c.call.getPeer(),
        node: c.node,
        peer: c.peer,
        connectedAt: c.connectedAt,
        types,
      });
    }
    return out;
  }

  /** The snapshot key of the newest stream of `nodeId` (what `/debug/config_dump?proxyID=` shows). */
  snapshotKeyOf(nodeId: string): string | undefined {
    let key: string | undefined;
    for (const c of this.streams.ofNode(nodeId)) key = c.key;
    return key;
  }

  /** Ends every stream with UNAVAILABLE (shutdown); proxies reconnect to another instance or later. */
  closeAllStreams(reason = 'control plane shutting down'): void {
    for (const c of [...this.streams.all]) this.streams.fail(c, grpc.status.UNAVAILABLE, reason);
  }

  private onSnapshot(key: string): void {
    for (const conn of this.streams.withKey(key)) {
      if (conn.closed) continue;
      this.respondInOrder(conn, [...conn.types.keys()]);
    }
  }

  /** Responds to `types` of a stream in Istio's push order, the types it does not name last. */
  private respondInOrder(conn: Stream, types: string[]): void {
    const order = [...PUSH_ORDER.filter((t) => types.includes(t)), ...types.filter((t) => !PUSH_ORDER.includes(t))];
    for (const t of order) this.respond(conn, t);
  }

  private respond(conn: Stream, typeUrl: string): void {
    if (conn.delta) this.respondWith(conn, typeUrl, this.delta);
    else this.respondWith(conn, typeUrl, this.sotw);
  }

  /** Answers one subscription from the stream's snapshot, with what the proxy may receive of it. */
  private respondWith<S extends TypeState>(conn: AdsStream<S>, typeUrl: string, protocol: Responder<S>): void {
    const st = conn.types.get(typeUrl);
    const node = conn.node;
    if (!st || !node || conn.closed) return;
    const snapshot = this.cache.getEncoded(conn.key!);
    if (!snapshot) return; // the watch stays open until the control plane has built this proxy's snapshot
    const byName = snapshot.resources.get(typeUrl) ?? new Map<string, EncodedResource>();
    const selected = this.selector.select(conn.peer, st, node, typeUrl, byName);
    protocol.respond(conn, st, node, typeUrl, byName, selected);
  }
}
