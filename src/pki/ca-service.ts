// The CA's gRPC API, wire-compatible with Istio's `istio.v1.auth.IstioCertificateService/CreateCertificate`
// (security/proto/istioca.proto: csr = 1, validity_duration = 3, metadata = 4; cert_chain = 1). The
// caller authenticates with `authorization: Bearer <token>`; the certificate carries the token's
// identity only. The messages are declared here with protobufjs reflection so the build copies nothing.
import { createPublicKey } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { parseCertificate, parseCsr } from './certificate.js';
import { DEFAULT_CA_RATE_LIMIT, IdentityRateLimiter, type IdentityRateLimitOptions } from './identity-rate-limit.js';
import { MeshCAError, type MeshCA } from './mesh-ca.js';
import { CaAuthError, type TokenVerifier } from './workload-token.js';

export const CA_SERVICE_NAME = 'istio.v1.auth.IstioCertificateService';
export const CREATE_CERTIFICATE_PATH = `/${CA_SERVICE_NAME}/CreateCertificate`;
export const DEFAULT_CA_SERVER_NAME = 'istiod.istio-system.svc';
/** Istio's metadata key for a node agent asking on behalf of another identity (not supported here). */
const IMPERSONATED_IDENTITY = 'ImpersonatedIdentity';

const root = protobuf.Root.fromJSON(protobuf.common.get('google/protobuf/struct.proto') as protobuf.INamespace);
root.addJSON({
  istio: {
    nested: {
      v1: {
        nested: {
          auth: {
            nested: {
              IstioCertificateRequest: {
                fields: {
                  csr: { type: 'string', id: 1 },
                  validityDuration: { type: 'int64', id: 3 },
                  metadata: { type: 'google.protobuf.Struct', id: 4 },
                },
              },
              IstioCertificateResponse: {
                fields: { certChain: { rule: 'repeated', type: 'string', id: 1 } },
              },
            },
          },
        },
      },
    },
  },
});
const RequestType = root.lookupType('istio.v1.auth.IstioCertificateRequest');
const ResponseType = root.lookupType('istio.v1.auth.IstioCertificateResponse');

export type StructValue = string | number | boolean | null | StructValue[] | { [k: string]: StructValue };

export interface IstioCertificateRequest {
  csr: string;
  validityDuration: number;
  metadata?: Record<string, StructValue>;
}

export interface IstioCertificateResponse {
  certChain: string[];
}

interface PbValue {
  nullValue?: number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: { fields?: Record<string, PbValue> };
  listValue?: { values?: PbValue[] };
}

function toPbValue(v: StructValue): PbValue {
  if (v === null) return { nullValue: 0 };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toPbValue) } };
  return { structValue: { fields: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPbValue(x)])) } };
}

function fromPbValue(v: PbValue): StructValue {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.numberValue !== undefined) return v.numberValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.listValue) return (v.listValue.values ?? []).map(fromPbValue);
  if (v.structValue) return Object.fromEntries(Object.entries(v.structValue.fields ?? {}).map(([k, x]) => [k, fromPbValue(x)]));
  return null;
}

export function encodeRequest(req: IstioCertificateRequest): Buffer {
  const msg = RequestType.fromObject({
    csr: req.csr,
    validityDuration: req.validityDuration,
    ...(req.metadata ? { metadata: { fields: Object.fromEntries(Object.entries(req.metadata).map(([k, v]) => [k, toPbValue(v)])) } } : {}),
  });
  return Buffer.from(RequestType.encode(msg).finish());
}

export function decodeRequest(buf: Buffer): IstioCertificateRequest {
  const o = RequestType.toObject(RequestType.decode(buf), { longs: Number, defaults: true }) as {
    csr: string;
    validityDuration: number;
    metadata?: { fields?: Record<string, PbValue> };
  };
  const out: IstioCertificateRequest = { csr: o.csr, validityDuration: o.validityDuration };
  if (o.metadata) out.metadata = Object.fromEntries(Object.entries(o.metadata.fields ?? {}).map(([k, v]) => [k, fromPbValue(v)]));
  return out;
}

export function encodeResponse(res: IstioCertificateResponse): Buffer {
  return Buffer.from(ResponseType.encode(ResponseType.fromObject(res)).finish());
}

export function decodeResponse(buf: Buffer): IstioCertificateResponse {
  const o = ResponseType.toObject(ResponseType.decode(buf), { defaults: true }) as { certChain: string[] };
  return { certChain: o.certChain };
}

const serviceDefinition: grpc.ServiceDefinition = {
  CreateCertificate: {
    path: CREATE_CERTIFICATE_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeRequest,
    requestDeserialize: decodeRequest,
    responseSerialize: encodeResponse,
    responseDeserialize: decodeResponse,
  },
};

export interface CertificateServiceOptions {
  ca: MeshCA;
  verifier: TokenVerifier;
  /** A maximum of this service's own, besides the CA's (MeshCAOptions.maxTtlSeconds); a request above either is refused. */
  maxTtlSeconds?: number;
  /** Per-identity token bucket on CreateCertificate (RESOURCE_EXHAUSTED beyond it); DEFAULT_CA_RATE_LIMIT when absent. */
  rateLimit?: IdentityRateLimitOptions;
  /** Structured audit log: every grant and refusal, with peer, identity and what was asked. Never the token. */
  log?: (entry: object) => void;
}

class ServiceError extends Error {
  constructor(
    readonly grpcCode: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** Adds CreateCertificate to `server`. The server's credentials (TLS) are the caller's choice. */
export function addCertificateService(server: grpc.Server, opts: CertificateServiceOptions): void {
  const log = opts.log ?? (() => undefined);
  const limiter = new IdentityRateLimiter(opts.rateLimit ?? DEFAULT_CA_RATE_LIMIT);
  const limit = opts.rateLimit ?? DEFAULT_CA_RATE_LIMIT;
  const handler: grpc.handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse> = (call, callback) => {
    const peer = call.getPeer();
    const requested: Record<string, unknown> = { ttlSeconds: call.request.validityDuration };
    const run = async (): Promise<IstioCertificateResponse> => {
      try {
        const csr = parseCsr(call.request.csr);
        Object.assign(requested, { uris: csr.uris, dns: csr.dns, ips: csr.ips });
      } catch (err) {
        throw new ServiceError(grpc.status.INVALID_ARGUMENT, `the CSR cannot be read: ${(err as Error).message}`);
      }
      const header = call.metadata.get('authorization')[0];
      const m = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
      if (!m) throw new CaAuthError('missing', 'no "authorization: Bearer <token>" metadata was sent');
      const { identity, expiresAt } = await opts.verifier.verifyWithExpiry(m[1] as string);
      requested.identity = identity;
      const impersonated = call.request.metadata?.[IMPERSONATED_IDENTITY];
      if (typeof impersonated === 'string' && impersonated !== '') {
        // Istio refuses impersonation unless a node authorizer is configured; meshgate has none.
        throw new ServiceError(grpc.status.UNAUTHENTICATED, `impersonation of "${impersonated}" is not allowed`);
      }
      const own = opts.ca.spiffeId(identity);
      const foreign = (requested.uris as string[]).filter((u) => u.startsWith('spiffe://') && u !== own);
      if (foreign.length > 0) {
        throw new ServiceError(grpc.status.PERMISSION_DENIED, `the token for ${own} cannot obtain a certificate for ${foreign.join(', ')}`);
      }
      const retryIn = limiter.take(own);
      if (retryIn > 0) {
        throw new ServiceError(
          grpc.status.RESOURCE_EXHAUSTED,
          `rate limit: ${own} made more than ${limit.burst} certificate requests (then ${limit.perSecond} per second); retry in ${retryIn} s`,
        );
      }
      const ttl = call.request.validityDuration;
      if (opts.maxTtlSeconds !== undefined && ttl > opts.maxTtlSeconds) {
        throw new ServiceError(
          grpc.status.INVALID_ARGUMENT,
          `requested TTL ${ttl}s is greater than the max allowed TTL ${opts.maxTtlSeconds}s`,
        );
      }
      const chain = await opts.ca.signWorkloadCsr(call.request.csr, identity, ttl > 0 ? ttl : 0, { notAfterLimit: expiresAt });
      const leaf = parseCertificate(chain[0] as string);
      log({
        level: 'info',
        msg: 'certificate issued',
        peer,
        identity: own,
        serial: leaf.serialHex,
        notAfter: leaf.notAfter.toISOString(),
        requested,
      });
      return { certChain: chain };
    };
    run().then(
      (res) => callback(null, res),
      (err: unknown) => {
        let code: grpc.status;
        let reason: string;
        if (err instanceof CaAuthError) {
          code = grpc.status.UNAUTHENTICATED;
          reason = `${err.reason}: ${err.message}`;
        } else if (err instanceof ServiceError) {
          code = err.grpcCode;
          reason = err.message;
        } else if (err instanceof MeshCAError) {
          // Istio's CA answers a bad CSR and a TTL above the maximum with InvalidArgument, its own failures with Internal.
          code =
            err.code === 'E_CA_INVALID'
              ? grpc.status.INTERNAL
              : err.code === 'E_CA_CREDENTIAL_EXPIRED'
                ? grpc.status.UNAUTHENTICATED
                : grpc.status.INVALID_ARGUMENT;
          reason = `${err.code}: ${err.message}`;
        } else {
          code = grpc.status.INTERNAL;
          reason = (err as Error).message ?? String(err);
        }
        log({ level: 'warn', msg: 'certificate refused', peer, code: grpc.status[code], reason, requested });
        callback({ code, details: reason, metadata: new grpc.Metadata() });
      },
    );
  };
  server.addService(serviceDefinition, { CreateCertificate: handler });
}

export class CaRequestError extends Error {
  constructor(
    readonly code: 'E_CA_UNAUTHORIZED' | 'E_CA_UNAVAILABLE' | 'E_CA_BAD_RESPONSE',
    message: string,
    readonly grpcCode?: grpc.status,
  ) {
    super(message);
    this.name = 'CaRequestError';
  }
}

export interface RequestCertificateOptions {
  /** host:port of the CA. */
  address: string;
  /** The mesh root(s) the CA's serving certificate must chain to. */
  rootCertPem: string;
  serverName?: string;
  token: string;
  csrPem: string;
  ttlSeconds: number;
  metadata?: Record<string, StructValue>;
  timeoutMs?: number;
}

/** Asks the CA to sign `csrPem` over TLS verified against the mesh root; returns the chain, root bundle last. */
export async function requestCertificate(opts: RequestCertificateOptions): Promise<string[]> {
  const serverName = opts.serverName ?? DEFAULT_CA_SERVER_NAME;
  const creds = grpc.credentials.createSsl(Buffer.from(opts.rootCertPem));
  const client = new grpc.Client(opts.address, creds, {
    'grpc.ssl_target_name_override': serverName,
    'grpc.default_authority': serverName,
  });
  try {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${opts.token}`);
    const req: IstioCertificateRequest = { csr: opts.csrPem, validityDuration: Math.max(0, Math.floor(opts.ttlSeconds)) };
    if (opts.metadata) req.metadata = opts.metadata;
    const res = await new Promise<IstioCertificateResponse>((resolve, reject) => {
      client.makeUnaryRequest<IstioCertificateRequest, IstioCertificateResponse>(
        CREATE_CERTIFICATE_PATH,
        encodeRequest,
        decodeResponse,
        req,
        md,
        { deadline: Date.now() + (opts.timeoutMs ?? 10_000) },
        (err, value) => {
          if (err) {
            const unauthorized = err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED;
            reject(
              new CaRequestError(
                unauthorized ? 'E_CA_UNAUTHORIZED' : 'E_CA_UNAVAILABLE',
                `CA at ${opts.address} refused: ${grpc.status[err.code]}: ${err.details}`,
                err.code,
              ),
            );
          } else if (!value) {
            reject(new CaRequestError('E_CA_BAD_RESPONSE', `CA at ${opts.address} sent an empty response`));
          } else {
            resolve(value);
          }
        },
      );
    });
    if (res.certChain.length < 2)
      throw new CaRequestError(
        'E_CA_BAD_RESPONSE',
        `CA at ${opts.address} returned ${res.certChain.length} certificate(s); expected a leaf and a root`,
      );
    const leaf = parseCertificate(res.certChain[0] as string);
    if (!samePublicKey(leaf.publicKeyPem, parseCsr(opts.csrPem).publicKeyPem))
      throw new CaRequestError('E_CA_BAD_RESPONSE', `CA at ${opts.address} returned a certificate for a different key than the CSR's`);
    return res.certChain;
  } finally {
    client.close();
  }
}

function samePublicKey(a: string, b: string): boolean {
  return createPublicKey(a)
    .export({ type: 'spki', format: 'der' })
    .equals(createPublicKey(b).export({ type: 'spki', format: 'der' }));
}
