// Incremental (delta) xDS on the wire: envoy.service.discovery.v3 DeltaDiscoveryRequest and
// DeltaDiscoveryResponse, and the AggregatedDiscoveryService/DeltaAggregatedResources method shared by
// server and clients. A response carries only the resources that changed (each with its own version)
// and the names of those removed; Istio's sidecars use this form of ADS.
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { messageFromJson, messageToJson } from './codec.js';
import { ADS_SERVICE, wireTypes, wrapDecode, type ErrorDetail } from './discovery.js';
import type { NodeMessage } from './node-message.js';

export const DELTA_ADS_METHOD_PATH = `/${ADS_SERVICE}/DeltaAggregatedResources`;

export interface DeltaDiscoveryRequest {
  node?: NodeMessage;
  typeUrl: string;
  resourceNamesSubscribe: string[];
  resourceNamesUnsubscribe: string[];
  /** What the client already holds (name → version), sent on the first request after a reconnect. */
  initialResourceVersions: Record<string, string>;
  responseNonce: string;
  errorDetail?: ErrorDetail;
}

export interface DeltaResource {
  name: string;
  version: string;
  /** The resource's encoding (google.protobuf.Any value) for `typeUrl`. */
  value: Buffer;
}

export interface DeltaDiscoveryResponse {
  systemVersionInfo: string;
  resources: DeltaResource[];
  typeUrl: string;
  removedResources: string[];
  nonce: string;
  controlPlaneId?: string;
}

type Native = Record<string, unknown>;

export function encodeDeltaRequest(r: DeltaDiscoveryRequest): Buffer {
  const { deltaReq: req, node } = wireTypes();
  const msg: Native = {
    type_url: r.typeUrl,
    resource_names_subscribe: r.resourceNamesSubscribe,
    resource_names_unsubscribe: r.resourceNamesUnsubscribe,
    initial_resource_versions: r.initialResourceVersions,
    response_nonce: r.responseNonce,
  };
  if (r.node) msg.node = messageFromJson(node, r.node, 'node');
  if (r.errorDetail) msg.error_detail = { code: r.errorDetail.code, message: r.errorDetail.message };
  return Buffer.from(req.encode(msg).finish());
}

export function decodeDeltaRequest(buf: Buffer): DeltaDiscoveryRequest {
  const { deltaReq: req, node } = wireTypes();
  const m = req.decode(buf) as unknown as Native;
  const out: DeltaDiscoveryRequest = {
    typeUrl: String(m.type_url ?? ''),
    resourceNamesSubscribe: [...((m.resource_names_subscribe ?? []) as string[])],
    resourceNamesUnsubscribe: [...((m.resource_names_unsubscribe ?? []) as string[])],
    initialResourceVersions: { ...((m.initial_resource_versions ?? {}) as Record<string, string>) },
    responseNonce: String(m.response_nonce ?? ''),
  };
  if (m.node) out.node = messageToJson(node, m.node as Native, 'node') as NodeMessage;
  const ed = m.error_detail as { code?: number; message?: string } | null | undefined;
  if (ed) out.errorDetail = { code: ed.code ?? 0, message: ed.message ?? '' };
  return out;
}

/**
 * Resource entries (DeltaDiscoveryResponse field 2: Resource {name = 3, version = 1, resource = 2 (Any)})
 * for `resources`, in order — prepared once and shared by every stream that gets the same change.
 */
export function encodeDeltaResources(typeUrl: string, resources: readonly DeltaResource[]): Buffer {
  const w = protobuf.Writer.create();
  for (const r of resources) {
    w.uint32(18).fork();
    w.uint32(10).string(r.version);
    w.uint32(18).fork().uint32(10).string(typeUrl).uint32(18).bytes(r.value).ldelim();
    w.uint32(26).string(r.name);
    w.ldelim();
  }
  return Buffer.from(w.finish());
}

/** A whole response; `encodedResources` (from encodeDeltaResources) stands for `resources` when given. */
export function encodeDeltaResponse(r: DeltaDiscoveryResponse, encodedResources?: Buffer): Buffer {
  const msg: Native = {
    system_version_info: r.systemVersionInfo,
    type_url: r.typeUrl,
    removed_resources: r.removedResources,
    nonce: r.nonce,
  };
  if (r.controlPlaneId) msg.control_plane = { identifier: r.controlPlaneId };
  const head = wireTypes().deltaRes.encode(msg).finish();
  return Buffer.concat([head, encodedResources ?? encodeDeltaResources(r.typeUrl, r.resources)]);
}

export function decodeDeltaResponse(buf: Buffer): DeltaDiscoveryResponse {
  const m = wireTypes().deltaRes.decode(buf) as unknown as Native;
  const out: DeltaDiscoveryResponse = {
    systemVersionInfo: String(m.system_version_info ?? ''),
    resources: ((m.resources ?? []) as { name?: string; version?: string; resource?: { value?: Uint8Array } }[]).map((x) => ({
      name: String(x.name ?? ''),
      version: String(x.version ?? ''),
      value: Buffer.from(x.resource?.value ?? []),
    })),
    typeUrl: String(m.type_url ?? ''),
    removedResources: [...((m.removed_resources ?? []) as string[])],
    nonce: String(m.nonce ?? ''),
  };
  const cp = m.control_plane as { identifier?: string } | null | undefined;
  if (cp?.identifier) out.controlPlaneId = cp.identifier;
  return out;
}

/** The delta ADS method; a server may hand over a response it serialised once for many streams. */
export const deltaAdsMethod = {
  path: DELTA_ADS_METHOD_PATH,
  requestStream: true,
  responseStream: true,
  requestSerialize: encodeDeltaRequest,
  requestDeserialize: wrapDecode(decodeDeltaRequest),
  responseSerialize: (r: DeltaDiscoveryResponse | Buffer) => (Buffer.isBuffer(r) ? r : encodeDeltaResponse(r)),
  responseDeserialize: wrapDecode(decodeDeltaResponse),
  originalName: 'deltaAggregatedResources',
} as grpc.MethodDefinition<DeltaDiscoveryRequest, DeltaDiscoveryResponse | Buffer>;
