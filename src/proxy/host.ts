// One upstream host of a cluster, with the per-host state load balancing, the circuit breaker and
// outlier detection need, and who the control plane says runs there (for Istio's destination labels).
import type { WorkloadMetadata } from '../envoy/workload-metadata.js';

const NO_METADATA: Readonly<Record<string, unknown>> = Object.freeze({});
const NO_VALUES: ReadonlyMap<string, string> = new Map();

export class UpstreamHost {
  readonly key: string;
  /** Open connections to this host (least-request's "active requests" for TCP); counted by its cluster. */
  private activeConnections = 0;
  consecutiveFailures = 0;
  ejectedUntil = 0;
  ejections = 0;
  /** Smooth weighted round robin state. */
  currentWeight = 0;

  constructor(
    readonly address: string,
    readonly port: number,
    readonly weight: number,
    /** EDS health status: only HEALTHY/UNKNOWN hosts take traffic (DEGRADED as a last resort is not modelled). */
    readonly healthy: boolean,
    readonly hostname: string = '',
    readonly locality: string = '',
    /** The workload behind this endpoint, from its `istio.workload` metadata (decoded once per update). */
    readonly workload?: WorkloadMetadata,
    /** The endpoint's `envoy.transport_socket_match` metadata (Istio's `tlsMode`), for transport socket matching. */
    readonly socketMatch: Readonly<Record<string, unknown>> = NO_METADATA,
  ) {
    this.key = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    // Compared per connection by transport socket matching: encoded once per EDS update, not per connection.
    this.socketMatchValues =
      socketMatch === NO_METADATA ? NO_VALUES : new Map(Object.entries(socketMatch).map(([k, v]) => [k, JSON.stringify(v)]));
  }

  /** `socketMatch` with each value as canonical JSON, for equality tests. */
  readonly socketMatchValues: ReadonlyMap<string, string>;

  get active(): number {
    return this.activeConnections;
  }

  /** Counts a connection opened to this host (its cluster calls it; see ClusterRuntime.connectionOpened). */
  connectionOpened(): void {
    this.activeConnections++;
  }

  connectionClosed(): void {
    this.activeConnections--;
  }

  isEjected(now: number): boolean {
    return this.ejectedUntil > now;
  }
}
