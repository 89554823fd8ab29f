// Light simulated proxies for the control-plane benchmark: each is one real gRPC ADS stream that
// subscribes as Envoy does — CDS and LDS wildcard, then EDS for the EDS clusters CDS named — and ACKs
// every response. By default the stream is incremental (DeltaAggregatedResources, what Istio's sidecars
// use), so a change delivers only the resources that changed; `protocol: 'sotw'` uses state of the
// world. Resources are never decoded beyond each Cluster's name and discovery type (two protobuf fields
// read in place), so thousands fit in one process.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { ADS_METHOD_PATH, encodeDiscoveryRequest, type DiscoveryRequest } from '../../src/xds/discovery.js';
import { DELTA_ADS_METHOD_PATH, encodeDeltaRequest, type DeltaDiscoveryRequest } from '../../src/xds/delta-discovery.js';
import { contentVersion } from '../../src/xds/content-version.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { proxyNodeToMessage } from '../../src/xds/node-message.js';
import { XDS_CHANNEL_OPTIONS } from '../../src/xds/client/ads-client.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';

/** What a light client keeps of a DiscoveryResponse: no resource is decoded. */
export interface LightResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: Uint8Array[];
}

/** google.protobuf.Any { type_url = 1; value = 2 }: the value, read in place. */
function anyValue(bytes: Uint8Array): Uint8Array {
  const any = protobuf.Reader.create(bytes);
  let value: Uint8Array = new Uint8Array();
  while (any.pos < any.len) {
    const t = any.uint32();
    if (t >>> 3 === 2) value = any.bytes();
    else any.skipType(t & 7);
  }
  return value;
}

/**
 * Fields 1 (version_info / system_version_info), 4 (type_url) and 5 (nonce), which DiscoveryResponse
 * and DeltaDiscoveryResponse number alike; field 2 (resources) and 6 (delta's removed_resources) are
 * handed to the callers.
 */
function readEnvelope(
  buf: Buffer,
  onResource: (bytes: Uint8Array) => void,
  onRemoved?: (name: string) => void,
): { versionInfo: string; typeUrl: string; nonce: string } {
  const r = protobuf.Reader.create(buf);
  const out = { versionInfo: '', typeUrl: '', nonce: '' };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1) out.versionInfo = r.string();
    else if (field === 4) out.typeUrl = r.string();
    else if (field === 5) out.nonce = r.string();
    else if (field === 2) onResource(r.bytes());
    else if (field === 6 && onRemoved) onRemoved(r.string());
    else r.skipType(tag & 7);
  }
  return out;
}

/** A DiscoveryResponse with each resource's Any value kept as bytes. */
export function decodeLightResponse(buf: Buffer): LightResponse {
  const resources: Uint8Array[] = [];
  return { ...readEnvelope(buf, (b) => resources.push(anyValue(b))), resources };
}

/** What a light delta client keeps of a DeltaDiscoveryResponse: resource names and bytes, removals. */
export interface LightDeltaResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: { name: string; version: string; value: Uint8Array }[];
  removed: string[];
}

/** A DeltaDiscoveryResponse: each Resource {version = 1, name = 3, resource = 2 (Any)} read in place, and the removals. */
export function decodeLightDeltaResponse(buf: Buffer): LightDeltaResponse {
  const resources: { name: string; version: string; value: Uint8Array }[] = [];
  const removed: string[] = [];
  const env = readEnvelope(
    buf,
    (bytes) => {
      const res = protobuf.Reader.create(bytes);
      let name = '';
      let version = '';
      let value: Uint8Array = new Uint8Array();
      while (res.pos < res.len) {
        const t = res.uint32();
        if (t >>> 3 === 3) name = res.string();
        else if (t >>> 3 === 1) version = res.string();
        else if (t >>> 3 === 2) value = anyValue(res.bytes());
        else res.skipType(t & 7);
      }
      resources.push({ name, version, value });
    },
    (name) => removed.push(name),
  );
  return { ...env, resources, removed };
}

/** Cluster.name (1) and Cluster.type (2; EDS = 3) read in place. */
export function clusterNameAndType(bytes: Uint8Array): { name: string; eds: boolean } {
  const r = protobuf.Reader.create(bytes);
  let name = '';
  let type = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) name = r.string();
    else if (tag >>> 3 === 2) type = r.int32();
    else r.skipType(tag & 7);
  }
  return { name, eds: type === 3 };
}

export interface FleetOptions {
  address: string;
  rootCertPem: string;
  serverName: string;
  count: number;
  /** A token for client `i` (namespace, service account of its node), sent as `authorization: Bearer`. */
  token: (i: number) => Promise<string>;
  node: (i: number) => ProxyNode;
  /** Streams opened at a time while connecting. */
  connectConcurrency?: number;
  /** Incremental (default, as Istio's sidecars) or state-of-the-world ADS. */
  protocol?: 'delta' | 'sotw';
}

/** What a delta client holds of one type (name → version), with a cheap order-free digest of it. */
class HeldSet {
  readonly versions = new Map<string, string>();
  /** Sum of a 32-bit FNV-1a of each `name\0version`: a cache key for the completeness check, not a proof. */
  digest = 0;

  private static term(name: string, version: string): number {
    let h = 0x811c9dc5;
    const s = `${name}\0${version}`;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    return h >>> 0;
  }

  set(name: string, version: string): void {
    const old = this.versions.get(name);
    if (old !== undefined) this.digest = (this.digest - HeldSet.term(name, old)) >>> 0;
    this.versions.set(name, version);
    this.digest = (this.digest + HeldSet.term(name, version)) >>> 0;
  }

  delete(name: string): void {
    const old = this.versions.get(name);
    if (old === undefined) return;
    this.versions.delete(name);
    this.digest = (this.digest - HeldSet.term(name, old)) >>> 0;
  }
}

interface ClientState {
  versions: Map<string, string>;
  /** The EDS subscription. */
  edsNames: Set<string>;
  /** Delta: the clusters held (name → uses EDS). */
  clusters: Map<string, boolean>;
  /** Delta: what is held of each type. */
  held: Map<string, HeldSet>;
  /** When each type was first received, and when CDS last changed. */
  firstAt: Map<string, number>;
  cdsChanges: number[];
  errors: string[];
}

export class AdsFleet {
  private readonly completeness = new Map<string, boolean>();
  private readonly clients: grpc.Client[] = [];
  private readonly streams: grpc.ClientDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, LightResponse | LightDeltaResponse>[] = [];
  readonly states: ClientState[] = [];

  constructor(private readonly opts: FleetOptions) {}

  /** Opens every stream; resolves when all are open (responses keep arriving afterwards). */
  async connect(): Promise<void> {
    const creds = grpc.credentials.createSsl(Buffer.from(this.opts.rootCertPem));
    const concurrency = this.opts.connectConcurrency ?? 50;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.opts.count) {
        const i = next++;
        await this.open(i, creds);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, () => worker()));
  }

  private async open(i: number, creds: grpc.ChannelCredentials): Promise<void> {
    const client = new grpc.Client(this.opts.address, creds, {
      // The flow-control windows and message size an Envoy's xDS client has (as meshgate's proxies use).
      ...XDS_CHANNEL_OPTIONS,
      'grpc.ssl_target_name_override': this.opts.serverName,
      'grpc.default_authority': this.opts.serverName,
      // One connection per simulated proxy, as real proxies have.
      'grpc.use_local_subchannel_pool': 1,
    });
    this.clients.push(client);
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${await this.opts.token(i)}`);
    const state: ClientState = {
      versions: new Map(),
      edsNames: new Set(),
      clusters: new Map(),
      held: new Map(),
      firstAt: new Map(),
      cdsChanges: [],
      errors: [],
    };
    this.states[i] = state;
    const stream = this.opts.protocol === 'sotw' ? this.openSotw(client, md, i, state) : this.openDelta(client, md, i, state);
    this.streams.push(stream as grpc.ClientDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, LightResponse | LightDeltaResponse>);
    stream.on('error', (err: Error) => state.errors.push(err.message));
    stream.on('status', (s: grpc.StatusObject) => {
      if (s.code !== grpc.status.OK && s.code !== grpc.status.CANCELLED) state.errors.push(`${grpc.status[s.code]}: ${s.details}`);
    });
  }

  /**
   * Whether `held` hashes to `version`. Clients of one shape pass through the same states, so the
   * answer is shared by (type, size, digest, version): one hash per distinct state, not per client.
   */
  private holdsVersion(typeUrl: string, held: HeldSet, version: string): boolean {
    const key = `${typeUrl}|${held.versions.size}|${held.digest}|${version}`;
    let ok = this.completeness.get(key);
    if (ok === undefined) {
      const sorted = [...held.versions]
        .map(([name, hash]) => ({ name, hash }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      ok = contentVersion(typeUrl, sorted) === version;
      if (this.completeness.size > 100_000) this.completeness.clear();
      this.completeness.set(key, ok);
    }
    return ok;
  }

  private received(state: ClientState, typeUrl: string, version: string): void {
    const now = performance.now();
    if (!state.firstAt.has(typeUrl)) state.firstAt.set(typeUrl, now);
    const prev = state.versions.get(typeUrl);
    state.versions.set(typeUrl, version);
    if (typeUrl === TypeUrl.Cluster && prev !== undefined && prev !== version) state.cdsChanges.push(now);
  }

  private openSotw(
    client: grpc.Client,
    md: grpc.Metadata,
    i: number,
    state: ClientState,
  ): grpc.ClientDuplexStream<DiscoveryRequest, LightResponse> {
    const stream = client.makeBidiStreamRequest(ADS_METHOD_PATH, encodeDiscoveryRequest, decodeLightResponse, md);
    const node = proxyNodeToMessage(this.opts.node(i));
    let sentNode = false;
    const send = (typeUrl: string, names: string[], version: string, nonce: string): void => {
      const req: DiscoveryRequest = { versionInfo: version, resourceNames: names, typeUrl, responseNonce: nonce };
      if (!sentNode) {
        req.node = node;
        sentNode = true;
      }
      stream.write(req);
    };
    stream.on('data', (res: LightResponse) => {
      this.received(state, res.typeUrl, res.versionInfo);
      if (res.typeUrl === TypeUrl.Cluster) {
        const eds = res.resources
          .map(clusterNameAndType)
          .filter((c) => c.eds)
          .map((c) => c.name)
          .sort();
        send(TypeUrl.Cluster, [], res.versionInfo, res.nonce);
        if (eds.length !== state.edsNames.size || eds.some((n) => !state.edsNames.has(n))) {
          state.edsNames = new Set(eds);
          send(TypeUrl.ClusterLoadAssignment, eds, state.versions.get(TypeUrl.ClusterLoadAssignment) ?? '', '');
        }
      } else if (res.typeUrl === TypeUrl.ClusterLoadAssignment) {
        send(res.typeUrl, [...state.edsNames], res.versionInfo, res.nonce);
      } else {
        send(res.typeUrl, [], res.versionInfo, res.nonce);
      }
    });
    send(TypeUrl.Cluster, [], '', '');
    send(TypeUrl.Listener, [], '', '');
    return stream;
  }

  private openDelta(
    client: grpc.Client,
    md: grpc.Metadata,
    i: number,
    state: ClientState,
  ): grpc.ClientDuplexStream<DeltaDiscoveryRequest, LightDeltaResponse> {
    const stream = client.makeBidiStreamRequest(DELTA_ADS_METHOD_PATH, encodeDeltaRequest, decodeLightDeltaResponse, md);
    const node = proxyNodeToMessage(this.opts.node(i));
    let sentNode = false;
    const send = (req: Partial<DeltaDiscoveryRequest> & { typeUrl: string }): void => {
      stream.write({
        resourceNamesSubscribe: [],
        resourceNamesUnsubscribe: [],
        initialResourceVersions: {},
        responseNonce: '',
        ...(sentNode ? {} : { node }),
        ...req,
      });
      sentNode = true;
    };
    stream.on('data', (res: LightDeltaResponse) => {
      // A large difference arrives in several responses: a type counts as received once what is held
      // hashes to the version every piece reports (see src/xds/content-version.ts).
      let held = state.held.get(res.typeUrl);
      if (!held) state.held.set(res.typeUrl, (held = new HeldSet()));
      for (const r of res.resources) held.set(r.name, r.version);
      for (const n of res.removed) held.delete(n);
      // EDS also waits until every subscribed assignment is there (a response may answer an older subscription).
      const h = held;
      if (
        this.holdsVersion(res.typeUrl, h, res.versionInfo) &&
        (res.typeUrl !== TypeUrl.ClusterLoadAssignment ||
          (h.versions.size >= state.edsNames.size && [...state.edsNames].every((n) => h.versions.has(n))))
      ) {
        this.received(state, res.typeUrl, res.versionInfo);
      }
      send({ typeUrl: res.typeUrl, responseNonce: res.nonce });
      if (res.typeUrl !== TypeUrl.Cluster) return;
      // Only what this response touched can change the EDS subscription, as in Envoy's CDS update.
      const subscribe: string[] = [];
      const unsubscribe: string[] = [];
      for (const r of res.resources) {
        const eds = clusterNameAndType(r.value).eds;
        const was = state.clusters.get(r.name) ?? false;
        state.clusters.set(r.name, eds);
        if (eds && !was) subscribe.push(r.name);
        else if (!eds && was) unsubscribe.push(r.name);
      }
      for (const n of res.removed) {
        if (state.clusters.get(n)) unsubscribe.push(n);
        state.clusters.delete(n);
      }
      if (subscribe.length > 0 || unsubscribe.length > 0) {
        for (const n of unsubscribe) state.edsNames.delete(n);
        for (const n of subscribe) state.edsNames.add(n);
        send({ typeUrl: TypeUrl.ClusterLoadAssignment, resourceNamesSubscribe: subscribe, resourceNamesUnsubscribe: unsubscribe });
      }
    });
    send({ typeUrl: TypeUrl.Cluster });
    send({ typeUrl: TypeUrl.Listener });
    return stream;
  }

  /** Clients that have CDS and LDS (and EDS when CDS named EDS clusters). */
  fullyPushed(): number {
    return this.states.filter(
      (s) =>
        s &&
        s.versions.has(TypeUrl.Cluster) &&
        s.versions.has(TypeUrl.Listener) &&
        (s.edsNames.size === 0 || s.versions.has(TypeUrl.ClusterLoadAssignment)),
    ).length;
  }

  /** How many clients have received each type so far, as `CDS 10, EDS 4, LDS 2` (progress reports). */
  progress(): string {
    const count = (t: string): number => this.states.filter((s) => s?.versions.has(t)).length;
    return `CDS ${count(TypeUrl.Cluster)}, EDS ${count(TypeUrl.ClusterLoadAssignment)}, LDS ${count(TypeUrl.Listener)}`;
  }

  /** Clients whose CDS version changed after `since` (performance.now()); and the latest such moment. */
  cdsChangedSince(since: number): { count: number; lastAt: number } {
    let count = 0;
    let lastAt = since;
    for (const s of this.states) {
      const t = s?.cdsChanges.find((x) => x >= since);
      if (t !== undefined) {
        count++;
        lastAt = Math.max(lastAt, t);
      }
    }
    return { count, lastAt };
  }

  errors(): string[] {
    return this.states.flatMap((s) => s?.errors ?? []);
  }

  close(): void {
    for (const s of this.streams) s.cancel();
    for (const c of this.clients) c.close();
  }
}

/** The node of simulated proxy `i`: a sidecar in one of the bench namespaces. */
export function benchNode(i: number, clusterId: string, namespaces: number): ProxyNode {
  const namespace = `bench-${i % namespaces}`;
  const ip = `127.${200 + Math.floor(i / 65_536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
  const podName = `sim-${i}`;
  const base = { role: 'sidecar' as const, ips: [ip], podName, namespace, domainSuffix: 'cluster.local' };
  return {
    ...base,
    id: formatNodeId(base),
    serviceAccount: 'default',
    labels: { app: `sim-${i % 50}` },
    clusterId,
    interceptionMode: 'REDIRECT',
  };
}
