// Limits of the control plane's gRPC server (xDS and the CA service on one TLS port), istiod's in spirit:
// a client may hold only so many streams on one connection, send only so large a message, and a
// connection with no call open is closed after a while. Keepalive pings keep finding proxies that vanished.
//
// Keepalive *enforcement* (gRPC's min_ping_interval_without_data / max_ping_strikes, istiod's
// KeepaliveEnforcementPolicy) is not here: @grpc/grpc-js (1.14) implements none of it on the server side —
// its server reads only the keepalive_time/timeout, max_connection_age/idle and max_concurrent_streams
// options — so setting those keys would promise a protection that does not exist.
import type * as grpc from '@grpc/grpc-js';

export interface XdsServerLimits {
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: a proxy needs one ADS stream plus the odd CA call; Envoy without ADS one per type. */
  maxConcurrentStreams: number;
  /** Largest request accepted (istiod: 4 MiB). A DiscoveryRequest or a CSR is a few kB; larger ends the call with RESOURCE_EXHAUSTED. */
  maxReceiveMessageBytes: number;
  /** A connection with no call open for this long is closed (a proxy's ADS stream keeps its own open). */
  maxConnectionIdleMs: number;
  /** Pings on idle streams, so that a proxy killed or cut off leaves /debug/syncz. */
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
}

export const DEFAULT_XDS_SERVER_LIMITS: XdsServerLimits = {
  maxConcurrentStreams: 100,
  maxReceiveMessageBytes: 4 * 1024 * 1024,
  maxConnectionIdleMs: 5 * 60_000,
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
};

/** The grpc.Server options for these limits (defaults for what is not given). */
export function xdsServerOptions(limits: Partial<XdsServerLimits> = {}): grpc.ServerOptions {
  const l = { ...DEFAULT_XDS_SERVER_LIMITS, ...limits };
  return {
    'grpc.max_concurrent_streams': l.maxConcurrentStreams,
    'grpc.max_receive_message_length': l.maxReceiveMessageBytes,
    'grpc.max_connection_idle_ms': l.maxConnectionIdleMs,
    'grpc.keepalive_time_ms': l.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': l.keepaliveTimeoutMs,
  };
}
