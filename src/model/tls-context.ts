// TLS contexts as Istio builds them (cluster_tls.go, security/model): ISTIO_MUTUAL with the workload
// certificate `default` and the mesh root `ROOTCA`, gateway credentials `kubernetes://NAME` with their
// CA in `kubernetes://NAME-cacert`, and files named in DestinationRules or Gateways.
import type { ClientTLSSettings, ServerTLSSettings, TLSProtocol } from '../config/types.js';
import type {
  CertificateValidationContext,
  CommonTlsContext,
  ConfigSource,
  DownstreamTlsContext,
  SdsSecretConfig,
  SubjectAltNameMatcher,
  TlsParameters,
  TransportSocket,
  UpstreamTlsContext,
} from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';

/** Istio's SDS resource names. */
export const SDS_DEFAULT = 'default';
export const SDS_ROOTCA = 'ROOTCA';
export const CREDENTIAL_PREFIX = 'kubernetes://';
/** Istio's suffix for the CA half of a gateway credential. */
export const CACERT_SUFFIX = '-cacert';
/** ALPN a mesh client offers on ISTIO_MUTUAL (Istio's ALPNInMeshWithMxc). */
export const ALPN_IN_MESH = ['istio-peer-exchange', 'istio'];
/** Every ALPN an Istio mesh client may offer (Istio's allIstioMtlsALPNs): PERMISSIVE and AUTO_PASSTHROUGH chains match on it. */
export const ALL_ISTIO_MTLS_ALPNS = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
/** What a server terminating mesh mTLS for TCP offers (Istio's ALPNDownstreamWithMxc): sidecar inbound and ISTIO_MUTUAL gateway servers. */
export const ALPN_DOWNSTREAM_WITH_MXC = ['istio-peer-exchange', 'h2', 'http/1.1'];
/** What other terminating gateway servers offer (Istio's ALPNHttp). */
export const ALPN_HTTP = ['h2', 'http/1.1'];
/** Where Istio looks for the system CA bundle when a SIMPLE/MUTUAL rule names no CA (Debian's path). */
export const SYSTEM_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';
/** Istio's inbound cipher list for mesh mTLS (security/model). */
export const MESH_CIPHER_SUITES = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'AES128-GCM-SHA256',
];

/** All SDS secrets come over the ADS stream (the proxy's agent answers `default` and `ROOTCA` itself). */
export function sdsConfig(): ConfigSource {
  return { ads: {}, resourceApiVersion: 'V3' };
}

export function sdsSecret(name: string): SdsSecretConfig {
  return { name, sdsConfig: sdsConfig() };
}

export function credentialResourceName(credentialName: string): string {
  return credentialName.startsWith(CREDENTIAL_PREFIX) ? credentialName : `${CREDENTIAL_PREFIX}${credentialName}`;
}

export function exactSans(sanType: SubjectAltNameMatcher['sanType'], names: readonly string[]): SubjectAltNameMatcher[] {
  return names.map((n) => ({ sanType, matcher: { exact: n } }));
}

/** URI SANs for SPIFFE ids, DNS SANs for anything else (how Envoy's typed matcher must be told). */
export function typedSans(names: readonly string[]): SubjectAltNameMatcher[] {
  return names.map((n) => ({ sanType: n.startsWith('spiffe://') ? ('URI' as const) : ('DNS' as const), matcher: { exact: n } }));
}

function clientTlsParams(): TlsParameters {
  // defaultUpstreamCommonTLSContext: Envoy's client default maximum would be TLS 1.2.
  return { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' };
}

export function tlsTransportSocket(ctx: UpstreamTlsContext): TransportSocket {
  return { name: 'envoy.transport_sockets.tls', typedConfig: { '@type': TypeUrl.UpstreamTlsContext, ...ctx } };
}

export function downstreamTransportSocket(ctx: DownstreamTlsContext): TransportSocket {
  return { name: 'envoy.transport_sockets.tls', typedConfig: { '@type': TypeUrl.DownstreamTlsContext, ...ctx } };
}

/** ISTIO_MUTUAL origination: workload cert, mesh root, SAN check against the destination's identities. */
export function istioMutualUpstream(sni: string, sans: readonly string[]): UpstreamTlsContext {
  const validation: CertificateValidationContext = sans.length > 0 ? { matchTypedSubjectAltNames: typedSans(sans) } : {};
  return {
    commonTlsContext: {
      tlsParams: clientTlsParams(),
      tlsCertificateSdsSecretConfigs: [sdsSecret(SDS_DEFAULT)],
      combinedValidationContext: { defaultValidationContext: validation, validationContextSdsSecretConfig: sdsSecret(SDS_ROOTCA) },
      alpnProtocols: [...ALPN_IN_MESH],
    },
    sni,
  };
}

export interface OriginationNames {
  /** Names the server certificate must carry: the rule's subjectAltNames, else the ServiceEntry's, else the SNI. */
  sans: string[];
  /** Where the names came from, for `describe`: Istio itself checks no name when the rule gives none (IST0128/IST0129). */
  source: 'subjectAltNames' | 'serviceEntry' | 'sni' | 'none';
}

/**
 * The server names meshgate verifies on SIMPLE/MUTUAL origination. Istio passes only explicit
 * subjectAltNames (its auto SAN validation is HTTP-only), so a TCP origination without them accepts
 * any name the CA signed; meshgate falls back to the SNI it sends, as a TLS client should.
 */
export function originationNames(tls: ClientTLSSettings, serviceEntrySans: readonly string[] | undefined): OriginationNames {
  if (tls.subjectAltNames && tls.subjectAltNames.length > 0) return { sans: [...tls.subjectAltNames], source: 'subjectAltNames' };
  if (serviceEntrySans && serviceEntrySans.length > 0) return { sans: [...serviceEntrySans], source: 'serviceEntry' };
  if (tls.sni) return { sans: [tls.sni], source: 'sni' };
  return { sans: [], source: 'none' };
}

/** SIMPLE/MUTUAL origination with a gateway credential (`kubernetes://NAME`, CA in `kubernetes://NAME-cacert`). */
export function credentialUpstream(tls: ClientTLSSettings, names: OriginationNames): UpstreamTlsContext {
  const resource = credentialResourceName(tls.credentialName as string);
  const common: CommonTlsContext = { tlsParams: clientTlsParams() };
  if (tls.mode === 'MUTUAL') common.tlsCertificateSdsSecretConfigs = [sdsSecret(resource)];
  if (tls.insecureSkipVerify) {
    common.validationContext = { trustChainVerification: 'ACCEPT_UNTRUSTED' };
  } else {
    common.combinedValidationContext = {
      defaultValidationContext: names.sans.length > 0 ? { matchTypedSubjectAltNames: typedSans(names.sans) } : {},
      validationContextSdsSecretConfig: sdsSecret(`${resource}${CACERT_SUFFIX}`),
    };
  }
  return { commonTlsContext: common, ...(tls.sni ? { sni: tls.sni } : {}) };
}

/** SIMPLE/MUTUAL origination with files mounted in the proxy (DestinationRule clientCertificate/privateKey/caCertificates). */
export function fileUpstream(tls: ClientTLSSettings, names: OriginationNames): UpstreamTlsContext {
  const common: CommonTlsContext = { tlsParams: clientTlsParams() };
  if (tls.mode === 'MUTUAL') {
    common.tlsCertificates = [
      { certificateChain: { filename: tls.clientCertificate as string }, privateKey: { filename: tls.privateKey as string } },
    ];
  }
  if (tls.insecureSkipVerify) {
    common.validationContext = { trustChainVerification: 'ACCEPT_UNTRUSTED' };
  } else {
    common.validationContext = {
      trustedCa: { filename: tls.caCertificates ?? SYSTEM_CA_FILE },
      ...(names.sans.length > 0 ? { matchTypedSubjectAltNames: typedSans(names.sans) } : {}),
      ...(tls.caCrl ? { crl: { filename: tls.caCrl } } : {}),
    };
  }
  return { commonTlsContext: common, ...(tls.sni ? { sni: tls.sni } : {}) };
}

const PROTOCOL_VERSION: Record<TLSProtocol, TlsParameters['tlsMinimumProtocolVersion']> = {
  TLS_AUTO: 'TLS_AUTO',
  TLSV1_0: 'TLSv1_0',
  TLSV1_1: 'TLSv1_1',
  TLSV1_2: 'TLSv1_2',
  TLSV1_3: 'TLSv1_3',
};

/**
 * Gateway servers: only what the server sets (Istio's applyServerTLSSettings, SIMPLE/MUTUAL/OPTIONAL_MUTUAL);
 * unset, Envoy's server defaults apply (TLS 1.2 to 1.3), which the proxy shares.
 */
export function gatewayTlsParams(tls: ServerTLSSettings): TlsParameters | undefined {
  const params: TlsParameters = {};
  if (tls.minProtocolVersion && tls.minProtocolVersion !== 'TLS_AUTO')
    params.tlsMinimumProtocolVersion = PROTOCOL_VERSION[tls.minProtocolVersion];
  if (tls.maxProtocolVersion && tls.maxProtocolVersion !== 'TLS_AUTO')
    params.tlsMaximumProtocolVersion = PROTOCOL_VERSION[tls.maxProtocolVersion];
  if (tls.cipherSuites && tls.cipherSuites.length > 0) params.cipherSuites = [...tls.cipherSuites];
  return Object.keys(params).length > 0 ? params : undefined;
}

/**
 * A gateway server's DownstreamTlsContext (Istio's buildGatewayListenerTLSContext) for the terminating
 * modes SIMPLE, MUTUAL, OPTIONAL_MUTUAL and ISTIO_MUTUAL.
 */
export function gatewayDownstream(tls: ServerTLSSettings): DownstreamTlsContext {
  const mode = tls.mode ?? 'SIMPLE';
  // Istio's BuildListenerTLSContext: a TCP server terminating ISTIO_MUTUAL offers the metadata-exchange ALPN, others HTTP's.
  const common: CommonTlsContext = { alpnProtocols: [...(mode === 'ISTIO_MUTUAL' ? ALPN_DOWNSTREAM_WITH_MXC : ALPN_HTTP)] };
  const params = mode === 'ISTIO_MUTUAL' ? undefined : gatewayTlsParams(tls);
  if (params) common.tlsParams = params;
  const sans = tls.subjectAltNames ?? [];
  const defaultValidation: CertificateValidationContext = sans.length > 0 ? { matchTypedSubjectAltNames: typedSans(sans) } : {};
  if (mode === 'ISTIO_MUTUAL') {
    common.tlsCertificateSdsSecretConfigs = [sdsSecret(SDS_DEFAULT)];
    common.combinedValidationContext = {
      defaultValidationContext: defaultValidation,
      validationContextSdsSecretConfig: sdsSecret(SDS_ROOTCA),
    };
    return { commonTlsContext: common, requireClientCertificate: true };
  }
  const verifiesClient = mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  const credential = tls.credentialName ?? tls.credentialNames?.[0];
  if (credential) {
    const resource = credentialResourceName(credential);
    common.tlsCertificateSdsSecretConfigs = [sdsSecret(resource)];
    if (verifiesClient) {
      common.combinedValidationContext = {
        defaultValidationContext: defaultValidation,
        validationContextSdsSecretConfig: sdsSecret(`${resource}${CACERT_SUFFIX}`),
      };
    }
  } else {
    if (tls.serverCertificate && tls.privateKey) {
      common.tlsCertificates = [{ certificateChain: { filename: tls.serverCertificate }, privateKey: { filename: tls.privateKey } }];
    }
    if (verifiesClient) {
      common.validationContext = {
        ...(tls.caCertificates ? { trustedCa: { filename: tls.caCertificates } } : {}),
        ...defaultValidation,
        ...(tls.caCrl ? { crl: { filename: tls.caCrl } } : {}),
      };
    }
  }
  return { commonTlsContext: common, requireClientCertificate: mode === 'MUTUAL' };
}

/**
 * Sidecar inbound mesh mTLS for TCP (Istio's BuildInboundTLS): any client certificate the mesh root signed
 * (no name check without trust domain aliases), offering the metadata-exchange ALPN.
 */
export function inboundMeshDownstream(): DownstreamTlsContext {
  return {
    commonTlsContext: {
      tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3', cipherSuites: [...MESH_CIPHER_SUITES] },
      tlsCertificateSdsSecretConfigs: [sdsSecret(SDS_DEFAULT)],
      combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: sdsSecret(SDS_ROOTCA) },
      alpnProtocols: [...ALPN_DOWNSTREAM_WITH_MXC],
    },
    requireClientCertificate: true,
  };
}
