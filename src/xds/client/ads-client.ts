// The proxy's side of ADS, as Envoy's gRPC mux does it: one stream, a subscription per type (CDS and
// LDS wildcard from the start; EDS, SDS and NDS as the proxy asks), each response handed to the proxy
// and then ACKed, or NACKed with the proxy's error while the proxy keeps its last good config. The
// stream is incremental by default (delta.ts, as Istio's sidecars use it) or state of the world
// (`protocol: 'sotw'`, sotw.ts). When the stream breaks the client reconnects with bounded exponential
// backoff and resends, per type, its names and what it holds (the last ACKed version, or each
// resource's version), so the server can skip what it already has. Running config is never cleared
// here: while disconnected the proxy keeps serving it.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '../../envoy/envoy-types.js';
import type { ProxyNode } from '../../envoy/node.js';
import { proxyNodeToMessage } from '../node-message.js';
import {
  ADS_METHOD_PATH,
  decodeDiscoveryResponse,
  encodeDiscoveryRequest,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../discovery.js';
import {
  DELTA_ADS_METHOD_PATH,
  decodeDeltaResponse,
  encodeDeltaRequest,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
} from '../delta-discovery.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import {
  newSubscription,
  normalize,
  subscriptionStatus,
  type OnResources,
  type Subscription,
  type SubscriptionStatus,
} from './subscription.js';
import { applySotwResponse, sotwRequest } from './sotw.js';
import { DeltaSubscriptions } from './delta.js';

export type { SubscriptionStatus } from './subscription.js';

export interface AdsClientCredentials {
  token?: string;
  certChainPem?: string;
  privateKeyPem?: string;
}

export interface AdsClientOptions {
  /** host:port of the control plane (Istio: istiod:15012). */
  address: string;
  /** The mesh root(s) the control plane's serving certificate must chain to. */
  rootCertPem: string;
  /** The name the serving certificate must carry; default istiod.istio-system.svc. */
  serverName?: string;
  node: ProxyNode;
  /** Called on every connection attempt, so rotated tokens and certificates are used. */
  credentials: () => Promise<AdsClientCredentials>;
  /** Applies a response; throwing NACKs it with the error's message and keeps the previous config. */
  onResources: OnResources;
  /** Subscriptions opened on start; default CDS then LDS, both wildcard (as Envoy does). */
  initialSubscriptions?: { typeUrl: string; names: string[] }[];
  backoff?: { initialMs?: number; maxMs?: number };
  /** Incremental (default, as Istio's sidecars) or state-of-the-world ADS. */
  protocol?: 'delta' | 'sotw';
  logger?: Logger;
}

export const DEFAULT_XDS_SERVER_NAME = 'istiod.istio-system.svc';

/**
 * gRPC channel settings of an xDS client, as Envoy's own: HTTP/2 flow-control windows of 256 MiB
 * (Envoy's initial_stream_window_size and initial_connection_window_size defaults) so a large push
 * streams without waiting a round trip per 64 KiB, and no 4 MiB cap on a response (a mesh of a
 * thousand services sends more than that in one CDS response).
 */
export const XDS_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc-node.flow_control_window': 256 * 1024 * 1024,
  'grpc.max_receive_message_length': -1,
};

/**
 * Events: `connected`, `disconnected` (error), `ack` ({typeUrl, version}), `nack` ({typeUrl, version, error}),
 * `error` is never emitted (stream errors are reported through `disconnected` and logged).
 */
export class AdsClient extends EventEmitter {
  private readonly subs = new Map<string, Subscription>();
  /** Incremental: what each type holds and what this stream was told (unused by state of the world). */
  private readonly delta = new DeltaSubscriptions();
  private readonly log: Logger;
  private client: grpc.Client | undefined;
  private stream:
    | grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>
    | grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>
    | undefined;
  private started = false;
  private closed = false;
  private connected = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly opts: AdsClientOptions) {
    super();
    this.log = opts.logger ?? silentLogger;
    for (const s of opts.initialSubscriptions ?? [
      { typeUrl: TypeUrl.Cluster, names: [] },
      { typeUrl: TypeUrl.Listener, names: [] },
    ]) {
      this.subs.set(s.typeUrl, newSubscription(s.names));
    }
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  isConnected(): boolean {
    return this.connected;
  }

  status(): Record<string, SubscriptionStatus> {
    const out: Record<string, SubscriptionStatus> = {};
    for (const [t, s] of this.subs) out[t] = subscriptionStatus(s);
    return out;
  }

  /** Sets the names subscribed for a type (empty for wildcard types = everything; empty EDS/SDS = none). */
  setSubscription(typeUrl: string, names: string[]): void {
    const sorted = normalize(names);
    const existing = this.subs.get(typeUrl);
    if (existing && existing.requested && sameNames(existing.names, sorted)) return;
    const sub: Subscription = existing ?? newSubscription(sorted);
    sub.names = sorted;
    this.subs.set(typeUrl, sub);
    this.sendRequest(typeUrl, sub, false);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.teardown();
    await this.queue;
  }

  private connect(): void {
    if (this.closed) return;
    this.opts.credentials().then(
      (creds) => this.openStream(creds),
      (err: unknown) => {
        this.log.warn('xDS credentials unavailable; will retry', { error: (err as Error).message });
        this.scheduleReconnect(err as Error);
      },
    );
  }

  private openStream(creds: AdsClientCredentials): void {
    if (this.closed) return;
    const serverName = this.opts.serverName ?? DEFAULT_XDS_SERVER_NAME;
    let channelCreds: grpc.ChannelCredentials;
    try {
      channelCreds = grpc.credentials.createSsl(
        Buffer.from(this.opts.rootCertPem),
        creds.privateKeyPem ? Buffer.from(creds.privateKeyPem) : null,
        creds.certChainPem ? Buffer.from(creds.certChainPem) : null,
      );
    } catch (err) {
      this.log.error('xDS TLS credentials invalid; will retry', { error: (err as Error).message });
      this.scheduleReconnect(err as Error);
      return;
    }
    const client = new grpc.Client(this.opts.address, channelCreds, {
      ...XDS_CHANNEL_OPTIONS,
      'grpc.ssl_target_name_override': serverName,
      'grpc.default_authority': serverName,
    });
    const md = new grpc.Metadata();
    if (creds.token) md.set('authorization', `Bearer ${creds.token}`);
    const delta = this.opts.protocol !== 'sotw';
    const stream = delta
      ? client.makeBidiStreamRequest(DELTA_ADS_METHOD_PATH, encodeDeltaRequest, decodeDeltaResponse, md)
      : client.makeBidiStreamRequest(ADS_METHOD_PATH, encodeDiscoveryRequest, decodeDiscoveryResponse, md);
    this.client = client;
    this.stream = stream;
    let gotResponse = false;
    let nodeSent = false;
    const sendFirst = (req: DiscoveryRequest | DeltaDiscoveryRequest): void => {
      if (!nodeSent) {
        req.node = proxyNodeToMessage(this.opts.node);
        nodeSent = true;
      }
      (stream as grpc.ClientDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, unknown>).write(req);
    };
    this.writeFirst = sendFirst;
    stream.on('data', (res: DiscoveryResponse | DeltaDiscoveryResponse) => {
      if (stream !== this.stream) return;
      if (!gotResponse) {
        gotResponse = true;
        this.attempt = 0;
        if (!this.connected) {
          this.connected = true;
          this.log.info('xDS stream established', { address: this.opts.address });
          this.emit('connected');
        }
      }
      this.queue = this.queue.then(() => this.handleResponse(stream, res));
    });
    const onGone = (err?: Error): void => {
      if (stream !== this.stream) return;
      this.teardown();
      if (this.connected) {
        this.connected = false;
        this.emit('disconnected', err);
      }
      if (err && !this.closed)
        this.log.warn('xDS stream closed; keeping current config and reconnecting', { address: this.opts.address, error: err.message });
      this.scheduleReconnect(err);
    };
    // grpc-js always ends a call with 'status'; 'error' repeats a non-OK status, so only 'status' drives reconnects.
    stream.on('error', (err: Error) => this.log.debug('xDS stream error', { error: err.message }));
    stream.on('status', (s: grpc.StatusObject) => {
      onGone(new Error(s.code === grpc.status.OK ? 'stream closed by the server' : `${grpc.status[s.code]}: ${s.details}`));
    });
    // Envoy's order on a new stream: CDS, then LDS, then the rest.
    for (const t of [
      TypeUrl.Cluster,
      TypeUrl.Listener,
      ...[...this.subs.keys()].filter((k) => k !== TypeUrl.Cluster && k !== TypeUrl.Listener),
    ]) {
      const sub = this.subs.get(t);
      if (sub) this.sendRequest(t, sub, true);
    }
  }

  private writeFirst: ((req: DiscoveryRequest | DeltaDiscoveryRequest) => void) | undefined;

  private sendRequest(typeUrl: string, sub: Subscription, initial: boolean, errorMessage?: string, nonce?: string): void {
    if (!this.stream || !this.writeFirst) return;
    const req =
      this.opts.protocol !== 'sotw'
        ? this.delta.request(typeUrl, sub, initial, errorMessage, nonce)
        : sotwRequest(typeUrl, sub, initial, errorMessage, nonce);
    if (!req) return;
    sub.requested = true;
    this.writeFirst(req);
  }

  /** Hands a response to the proxy, records the outcome, and ACKs or NACKs it. */
  private async handleResponse(stream: unknown, res: DiscoveryResponse | DeltaDiscoveryResponse): Promise<void> {
    const sub = this.subs.get(res.typeUrl);
    if (!sub) {
      this.log.warn('xDS response for a type never subscribed; ignored', { type: res.typeUrl });
      return;
    }
    const { version, error, announce } =
      'systemVersionInfo' in res
        ? await this.delta.apply(sub, res, this.opts.onResources)
        : await applySotwResponse(res, this.opts.onResources);
    this.settle(sub, res.typeUrl, version, error, announce);
    // A response that finished applying after its stream broke is kept (it applied) but not answered:
    // its nonce means nothing to the next stream, which starts again from version_info alone.
    if (stream !== this.stream) return;
    sub.lastNonce = res.nonce;
    this.sendRequest(res.typeUrl, sub, false, error, res.nonce);
  }

  /** Records a response as applied (`error` undefined) or refused, and says so (`ack` only when `announce`). */
  private settle(sub: Subscription, typeUrl: string, version: string, error: string | undefined, announce: boolean): void {
    if (error === undefined) {
      sub.ackedVersion = version;
      sub.lastError = undefined;
      if (announce) this.emit('ack', { typeUrl, version });
    } else {
      sub.lastError = error;
      this.log.warn('xDS update rejected (NACK); keeping the previous config', { type: typeUrl, version, error });
      this.emit('nack', { typeUrl, version, error });
    }
  }

  private teardown(): void {
    const stream = this.stream;
    const client = this.client;
    this.stream = undefined;
    this.client = undefined;
    this.writeFirst = undefined;
    for (const s of this.subs.values()) {
      s.requested = false;
      s.lastNonce = '';
    }
    this.delta.newStream();
    if (stream) {
      stream.removeAllListeners('data');
      // A cancelled call still emits 'error' (CANCELLED); keep a listener so it is not thrown.
      stream.on('error', () => undefined);
      stream.cancel();
    }
    client?.close();
  }

  private scheduleReconnect(err?: Error): void {
    if (this.closed || this.timer) return;
    const initial = this.opts.backoff?.initialMs ?? 500;
    const max = this.opts.backoff?.maxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** Math.min(this.attempt, 20));
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    this.attempt++;
    this.log.debug('xDS reconnect scheduled', { delayMs: delay, attempt: this.attempt, error: err?.message });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, delay);
  }
}

function sameNames(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
