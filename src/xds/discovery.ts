// envoy.service.discovery.v3 DiscoveryRequest/DiscoveryResponse on the wire, and the gRPC method
// definition of AggregatedDiscoveryService/StreamAggregatedResources shared by server and client.
// Resources travel as already-encoded Any values; the Node travels as canonical JSON.
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { envoyRoot } from './protos.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import { NameTableTypeUrl } from '../envoy/name-table.js';
import { messageFromJson, messageToJson, XdsCodecError } from './codec.js';
import type { NodeMessage } from './node-message.js';

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const ADS_METHOD_PATH = `/${ADS_SERVICE}/StreamAggregatedResources`;

/** Types where an empty subscription means "everything" (Envoy's LDS/CDS, Istio's NDS). */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set([TypeUrl.Listener, TypeUrl.Cluster, NameTableTypeUrl]);

/** google.rpc.Status as a NACK carries it. */
export interface ErrorDetail {
  code: number;
  message: string;
}

export interface DiscoveryRequest {
  versionInfo: string;
  node?: NodeMessage;
  resourceNames: string[];
  typeUrl: string;
  responseNonce: string;
  errorDetail?: ErrorDetail;
}

export interface WireResource {
  typeUrl: string;
  value: Buffer;
}

export interface DiscoveryResponse {
  versionInfo: string;
  resources: WireResource[];
  /**
   * Resources already in wire form (field 2 entries from encodeAnyList), sent after `resources`: a
   * server preparing the same resources for many streams encodes them once.
   */
  encodedResources?: Buffer;
  typeUrl: string;
  nonce: string;
  controlPlaneId?: string;
}

interface WireTypes {
  req: protobuf.Type;
  res: protobuf.Type;
  deltaReq: protobuf.Type;
  deltaRes: protobuf.Type;
  node: protobuf.Type;
}

let types: WireTypes | undefined;
/** The discovery messages of Envoy's protos (state of the world and delta), looked up once. */
export function wireTypes(): WireTypes {
  if (!types) {
    const root = envoyRoot();
    types = {
      req: root.lookupType('envoy.service.discovery.v3.DiscoveryRequest'),
      res: root.lookupType('envoy.service.discovery.v3.DiscoveryResponse'),
      deltaReq: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
      deltaRes: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse'),
      node: root.lookupType('envoy.config.core.v3.Node'),
    };
  }
  return types;
}

type Native = Record<string, unknown>;

export function encodeDiscoveryRequest(r: DiscoveryRequest): Buffer {
  const { req, node } = wireTypes();
  const msg: Native = {
    version_info: r.versionInfo,
    resource_names: r.resourceNames,
    type_url: r.typeUrl,
    response_nonce: r.responseNonce,
  };
  if (r.node) msg.node = messageFromJson(node, r.node, 'node');
  if (r.errorDetail) msg.error_detail = { code: r.errorDetail.code, message: r.errorDetail.message };
  return Buffer.from(req.encode(msg).finish());
}

export function decodeDiscoveryRequest(buf: Buffer): DiscoveryRequest {
  const { req, node } = wireTypes();
  const m = req.decode(buf) as unknown as Native;
  const out: DiscoveryRequest = {
    versionInfo: String(m.version_info ?? ''),
    resourceNames: [...((m.resource_names ?? []) as string[])],
    typeUrl: String(m.type_url ?? ''),
    responseNonce: String(m.response_nonce ?? ''),
  };
  if (m.node) out.node = messageToJson(node, m.node as Native, 'node') as NodeMessage;
  const ed = m.error_detail as { code?: number; message?: string } | null | undefined;
  if (ed) out.errorDetail = { code: ed.code ?? 0, message: ed.message ?? '' };
  return out;
}

export function encodeDiscoveryResponse(r: DiscoveryResponse): Buffer {
  const msg: Native = {
    version_info: r.versionInfo,
    resources: r.resources.map((x) => ({ type_url: x.typeUrl, value: x.value })),
    type_url: r.typeUrl,
    nonce: r.nonce,
  };
  if (r.controlPlaneId) msg.control_plane = { identifier: r.controlPlaneId };
  const head = wireTypes().res.encode(msg).finish();
  // Protobuf fields may come in any order and repeated fields concatenate, so the pre-encoded
  // resources simply follow the rest of the message.
  return r.encodedResources ? Buffer.concat([head, r.encodedResources]) : Buffer.from(head);
}

/** DiscoveryResponse field 2 entries (google.protobuf.Any {type_url, value}) for `values`, in order. */
export function encodeAnyList(typeUrl: string, values: readonly Uint8Array[]): Buffer {
  const w = protobuf.Writer.create();
  for (const v of values) w.uint32(18).fork().uint32(10).string(typeUrl).uint32(18).bytes(v).ldelim();
  return Buffer.from(w.finish());
}

export function decodeDiscoveryResponse(buf: Buffer): DiscoveryResponse {
  const m = wireTypes().res.decode(buf) as unknown as Native;
  const out: DiscoveryResponse = {
    versionInfo: String(m.version_info ?? ''),
    resources: ((m.resources ?? []) as { type_url?: string; value?: Uint8Array }[]).map((a) => ({
      typeUrl: String(a.type_url ?? ''),
      value: Buffer.from(a.value ?? []),
    })),
    typeUrl: String(m.type_url ?? ''),
    nonce: String(m.nonce ?? ''),
  };
  const cp = m.control_plane as { identifier?: string } | null | undefined;
  if (cp?.identifier) out.controlPlaneId = cp.identifier;
  return out;
}

/** A decoder whose failures are XdsCodecErrors (what gRPC reports for a malformed message). */
export function wrapDecode<T>(fn: (b: Buffer) => T): (b: Buffer) => T {
  return (b) => {
    try {
      return fn(b);
    } catch (err) {
      if (err instanceof XdsCodecError) throw err;
      throw new XdsCodecError('', `malformed discovery message: ${(err as Error).message}`);
    }
  };
}

/** The ADS method for grpc.Server#addService and for Client#makeBidiStreamRequest. */
export const adsServiceDefinition: grpc.ServiceDefinition = {
  StreamAggregatedResources: {
    path: ADS_METHOD_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: encodeDiscoveryRequest,
    requestDeserialize: wrapDecode(decodeDiscoveryRequest),
    // A server may hand over a response it serialised once for many streams.
    responseSerialize: (r: DiscoveryResponse | Buffer) => (Buffer.isBuffer(r) ? r : encodeDiscoveryResponse(r)),
    responseDeserialize: wrapDecode(decodeDiscoveryResponse),
    originalName: 'streamAggregatedResources',
  } as grpc.MethodDefinition<DiscoveryRequest, DiscoveryResponse | Buffer>,
};
