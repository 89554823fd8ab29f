// Who is on the other end of an xDS stream: the workload identity proven by a bearer token (like
// istiod's JWT authenticator) or by the client certificate's SPIFFE URI SAN (istiod's client-cert
// authenticator). The ADS server takes an `authenticate` hook; these are the pieces to build it from.
import type * as grpc from '@grpc/grpc-js';

export interface PeerIdentity {
  namespace: string;
  serviceAccount: string;
  trustDomain?: string;
  spiffeId?: string;
  method: 'token' | 'certificate';
}

export class XdsAuthError extends Error {
  readonly code = 'E_XDS_UNAUTHENTICATED';
}

/** The part of a gRPC server call the authenticators read. */
export interface AuthenticatableCall {
  metadata: grpc.Metadata;
  getPeer(): string;
  getAuthContext?(): { sslPeerCertificate?: { subjectaltname?: string } } | null;
}

/** `authorization: Bearer <token>` from call metadata, or undefined. */
export function bearerToken(call: AuthenticatableCall): string | undefined {
  const v = call.metadata.get('authorization')[0];
  if (typeof v !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(v.trim());
  return m?.[1];
}

const SPIFFE = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

export function parseSpiffeId(uri: string): { trustDomain: string; namespace: string; serviceAccount: string } | undefined {
  const m = SPIFFE.exec(uri);
  return m ? { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! } : undefined;
}

/** SPIFFE URI SANs of the verified client certificate (grpc-js only exposes a certificate that passed verification). */
export function peerSpiffeIds(call: AuthenticatableCall): string[] {
  const san = call.getAuthContext?.()?.sslPeerCertificate?.subjectaltname;
  if (!san) return [];
  return san
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:spiffe://'))
    .map((s) => s.slice(4));
}

export interface AuthenticatorOptions {
  /** Verifies a workload token and returns the identity it is bound to; throws when invalid. */
  verifyToken?: (token: string) => Promise<{ namespace: string; serviceAccount: string }>;
  /** Trust domains whose SPIFFE identities are accepted from client certificates. */
  trustDomains: string[];
}

/**
 * An `authenticate` hook: a client certificate with a SPIFFE ID in an accepted trust domain wins (the
 * TLS layer already verified it against the mesh root), else a bearer token, else the call is refused.
 */
export function makeAuthenticator(opts: AuthenticatorOptions): (call: AuthenticatableCall) => Promise<PeerIdentity> {
  return async (call) => {
    for (const id of peerSpiffeIds(call)) {
      const p = parseSpiffeId(id);
      if (p && opts.trustDomains.includes(p.trustDomain)) return { ...p, spiffeId: id, method: 'certificate' };
    }
    const token = bearerToken(call);
    if (token && opts.verifyToken) {
      let claims: { namespace: string; serviceAccount: string };
      try {
        claims = await opts.verifyToken(token);
      } catch (err) {
        throw new XdsAuthError(`peer ${call.getPeer()}: token rejected: ${(err as Error).message}`, { cause: err });
      }
      // A token names namespace and service account; the identity is the mesh's own trust domain's
      // (istiod's JWT authenticator does the same), so a proxy proven by token and later by its
      // certificate is one identity.
      const trustDomain = opts.trustDomains[0];
      return {
        namespace: claims.namespace,
        serviceAccount: claims.serviceAccount,
        ...(trustDomain !== undefined ? { trustDomain } : {}),
        method: 'token',
      };
    }
    throw new XdsAuthError(
      `peer ${call.getPeer()}: no client certificate with a SPIFFE ID in ${opts.trustDomains.join(', ')} and no bearer token`,
    );
  };
}
