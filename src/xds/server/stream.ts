// An ADS stream's life, as istiod's ads.go runs it: accept, authenticate the peer (a stream must prove an
// identity before any request is handled; the requests that arrive meanwhile wait), identify the proxy by
// the node of its first request (its claimed namespace and service account must be the ones it proved),
// bind the node id to that identity (node-binding.ts), index the stream by node id and snapshot key, and
// on end, cancel or error release all it held. The protocol (sotw.ts, delta.ts) handles the requests.
import * as grpc from '@grpc/grpc-js';
import type { EventEmitter } from 'node:events';
import { WILDCARD_TYPES, type DiscoveryRequest, type DiscoveryResponse } from '../discovery.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from '../delta-discovery.js';
import { spiffeId, type ProxyNode } from '../../envoy/node.js';
import { proxyNodeFromMessage, type NodeMessage } from '../node-message.js';
import type { AuthenticatableCall, PeerIdentity } from '../peer-identity.js';
import type { Logger } from '../../shared/log.js';
import { NodeIdentityBindings, type NodeBindingOptions } from './node-binding.js';
import type { SelectionState } from './authorize.js';
import type { InFlightSlot, PushThrottle } from './push-throttle.js';
import { StreamWriter } from './stream-writer.js';

/** Responses go out as DiscoveryResponse objects or already serialised. */
export type AdsCall = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse | Buffer>;
export type DeltaAdsCall = grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse | Buffer>;

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

/** What every subscription of a stream holds, whichever the protocol: its status, selection and budget. */
export interface TypeState extends TypeStatus, SelectionState, InFlightSlot {}

export interface AdsStream<S extends TypeState = TypeState> {
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
  types: Map<string, S>;
  closed: boolean;
  /** Types waiting for in-flight budget (push-throttle.ts). */
  queued: Set<string>;
  writer: StreamWriter;
}

/** The subscription state of `typeUrl` on `conn`, created on its first request. */
export function typeState<S extends TypeState>(conn: AdsStream<S>, typeUrl: string): S {
  let st = conn.types.get(typeUrl);
  if (!st) {
    // A protocol's own fields are optional: they are set as its requests and responses need them.
    st = { names: [], wildcard: WILDCARD_TYPES.has(typeUrl), denied: new Set() } as TypeState as S;
    conn.types.set(typeUrl, st);
  }
  return st;
}

/** What a stream reports of a subscription (connectionStatus): its status, none of its internal state. */
export function typeStatus(st: TypeStatus): TypeStatus {
  const { names, wildcard, sentVersion, sentNonce, sentCount, ackedVersion, nackedVersion, lastError } = st;
  return { names: [...names], wildcard, sentVersion, sentNonce, sentCount, ackedVersion, nackedVersion, lastError };
}

/** What the server gives a protocol (sotw.ts, delta.ts) to answer a stream's requests with. */
export interface ProtocolHost<C extends AdsStream> {
  readonly log: Logger;
  /** Receives 'push', 'ack' and 'nack'. */
  readonly events: EventEmitter;
  /** Takes budget for a response (push-throttle.ts); false when the stream has to wait its turn. */
  take(conn: C, slot: InFlightSlot, typeUrl: string, bytes: number): boolean;
  /** Frees the budget a subscription's answered response held. */
  release(slot: InFlightSlot): void;
  fail(conn: C, code: grpc.status, details: string): void;
  /** Sends a subscription what changed for it, if anything did and the budget allows. */
  respond(conn: C, typeUrl: string): void;
}

export interface StreamOptions {
  /** Proves who the peer is; throw to refuse the stream (UNAUTHENTICATED). */
  authenticate: (call: AuthenticatableCall) => Promise<PeerIdentity>;
  /** What a stream's snapshot is stored under in the cache: its node id (default) or its connection id. */
  snapshotKey?: 'node' | 'connection';
  nodeBinding?: NodeBindingOptions;
  /**
   * Checks a node's claims against what the control plane knows (the pod it names runs as the proven
   * service account): a refusal reason, or undefined to accept. Runs after the node's claimed identity
   * matched the proven one and before the node id is bound to it.
   */
  verifyNode?: (node: ProxyNode, peer: PeerIdentity) => string | undefined;
}

/**
 * The open streams, indexed by node id and snapshot key. Events on `events`: 'connected' and
 * 'disconnected' ({connectionId, node, peer}), 'unauthenticated' ({peerAddress, error, reason?}).
 */
export class AdsStreams<C extends AdsStream> {
  readonly all = new Set<C>();
  /** Streams by snapshot key: a snapshot update finds its proxy's streams without scanning them all. */
  private readonly byKey = new Map<string, Set<C>>();
  /** Streams by node id, oldest first. */
  private readonly byNode = new Map<string, Set<C>>();
  private readonly bindings: NodeIdentityBindings;
  private nextConnection = 0;

  constructor(
    private readonly opts: StreamOptions,
    private readonly log: Logger,
    private readonly events: EventEmitter,
    private readonly throttle: PushThrottle<C>,
  ) {
    this.bindings = new NodeIdentityBindings(opts.nodeBinding);
  }

  /** The streams whose snapshot is stored under `key`. */
  withKey(key: string): Iterable<C> {
    return this.byKey.get(key) ?? [];
  }

  /** The streams of `nodeId`, oldest first. */
  ofNode(nodeId: string): Iterable<C> {
    return this.byNode.get(nodeId) ?? [];
  }

  /**
   * Runs a new stream: authenticates it, then hands each request, once the stream is identified, to
   * `onRequest`.
   */
  open<S extends C, R extends { node?: NodeMessage }>(call: S['call'], delta: S['delta'], onRequest: (conn: S, req: R) => void): void {
    const conn = {
      id: `c${++this.nextConnection}`,
      call,
      delta,
      bound: false,
      connectedAt: new Date(),
      types: new Map(),
      closed: false,
      queued: new Set<string>(),
      writer: new StreamWriter(call, () => conn.closed),
    } as S;
    this.all.add(conn);
    const pending: R[] = [];
    const handle = (req: R): void => {
      if (this.identify(conn, req.node)) onRequest(conn, req);
    };
    let ready = false;
    const cleanup = (): void => {
      if (conn.closed) return;
      conn.closed = true;
      this.all.delete(conn);
      if (conn.node) {
        unindex(this.byNode, conn.node.id, conn);
        unindex(this.byKey, conn.key!, conn);
      }
      if (conn.bound) this.bindings.release(conn.node!.id);
      for (const st of conn.types.values()) this.throttle.release(st);
      if (conn.node) {
        this.log.info('proxy disconnected', { connection: conn.id, node: conn.node.id });
        this.events.emit('disconnected', { connectionId: conn.id, node: conn.node, peer: conn.peer });
      }
    };
    call.on('data', (req: R) => {
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
        this.events.emit('unauthenticated', { peerAddress: call.getPeer(), error: msg });
        this.fail(conn, grpc.status.UNAUTHENTICATED, msg);
      },
    );
  }

  /** Ends the stream with a gRPC status. */
  fail(conn: C, code: grpc.status, details: string): void {
    if (conn.closed) return;
    const err = Object.assign(new Error(details), { code, details });
    conn.call.emit('error', err);
  }

  /** The first request on a stream names the proxy; returns false when the stream was refused. */
  private identify(conn: C, nodeMsg: NodeMessage | undefined): boolean {
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
      this.events.emit('unauthenticated', { peerAddress: conn.call.getPeer(), error: msg });
      this.fail(conn, grpc.status.PERMISSION_DENIED, msg);
      return false;
    }
    const refused = this.opts.verifyNode?.(node, peer);
    if (refused !== undefined) {
      const msg = `node ${node.id}: ${refused}`;
      this.log.warn('xDS stream refused: node claims contradict the control plane', { connection: conn.id, error: msg });
      this.events.emit('unauthenticated', { peerAddress: conn.call.getPeer(), error: msg, reason: 'node-claims' });
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
      this.log.warn('xDS stream refused: node id bound to another identity', {
        connection: conn.id,
        peer: conn.call.getPeer(),
        node: node.id,
        identity,
        owner: binding.owner,
      });
      this.events.emit('unauthenticated', { peerAddress: conn.call.getPeer(), error: msg, reason: 'node-id-bound' });
      this.fail(conn, grpc.status.PERMISSION_DENIED, msg);
      return false;
    }
    conn.bound = true;
    conn.node = node;
    conn.key = this.opts.snapshotKey === 'connection' ? conn.id : node.id;
    index(this.byNode, node.id, conn);
    index(this.byKey, conn.key, conn);
    this.log.info('proxy connected', {
      connection: conn.id,
      node: node.id,
      peer: conn.call.getPeer(),
      identity: `${peer.namespace}/${peer.serviceAccount}`,
      auth: peer.method,
      delta: conn.delta,
    });
    this.events.emit('connected', { connectionId: conn.id, node, peer });
    return !conn.closed;
  }
}

function index<C>(m: Map<string, Set<C>>, key: string, conn: C): void {
  let set = m.get(key);
  if (!set) m.set(key, (set = new Set()));
  set.add(conn);
}

function unindex<C>(m: Map<string, Set<C>>, key: string, conn: C): void {
  const set = m.get(key);
  set?.delete(conn);
  if (set?.size === 0) m.delete(key);
}
