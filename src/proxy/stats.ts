// The proxy's metrics, one prom-client registry per proxy, served on /stats/prometheus. Istio's standard
// TCP metrics with Istio's label names, updated when a connection opens and closes (and every
// `reportIntervalMs` for long-lived ones, as Istio's tcp_reporting_duration does) — never per chunk —
// plus the proxy's own counters for refusals, handshake failures and upstream failures.
import { Counter, Gauge, Registry } from 'prom-client';

export const ISTIO_TCP_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'connection_security_policy',
  'response_flags',
  // The rest of Istio's standard labels for TCP (what Kiali and Istio's dashboards group by).
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_app',
  'destination_version',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
] as const;
export type IstioTcpLabels = Record<(typeof ISTIO_TCP_LABELS)[number], string>;

export class ProxyStats {
  readonly registry = new Registry();
  readonly tcpOpened: Counter<(typeof ISTIO_TCP_LABELS)[number]>;
  readonly tcpClosed: Counter<(typeof ISTIO_TCP_LABELS)[number]>;
  readonly tcpSent: Counter<(typeof ISTIO_TCP_LABELS)[number]>;
  readonly tcpReceived: Counter<(typeof ISTIO_TCP_LABELS)[number]>;
  /** Connections refused before any upstream was chosen: no chain, RBAC, listener-filter timeout, missing secret, ... */
  readonly downstreamRefused: Counter<'listener' | 'reason'>;
  readonly handshakeFailures: Counter<'side' | 'name' | 'reason'>;
  readonly activeConnections: Gauge<'listener'>;
  /** Envoy's listener.<name>.downstream_cx_overflow: refused by the listener's connection limit. */
  readonly listenerConnectionOverflow: Counter<'listener'>;
  /** Envoy's listener.<name>.downstream_global_cx_overflow: refused by the global connection limit. */
  readonly globalConnectionOverflow: Counter<'listener'>;
  readonly upstreamConnectFailures: Counter<'cluster' | 'reason'>;
  readonly upstreamOverflow: Counter<'cluster'>;
  readonly outlierEjections: Counter<'cluster'>;
  readonly configUpdates: Counter<'type' | 'result'>;
  /** Envoy's listener_manager.listener_create_failure: a listener of an LDS update that could not bind (by errno). */
  readonly listenerCreateFailures: Counter<'listener' | 'reason'>;

  constructor() {
    const r = [this.registry];
    const labelNames = ISTIO_TCP_LABELS;
    this.tcpOpened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened', labelNames, registers: r });
    this.tcpClosed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed', labelNames, registers: r });
    this.tcpSent = new Counter({
      name: 'istio_tcp_sent_bytes_total',
      help: 'Bytes sent during response in TCP connections',
      labelNames,
      registers: r,
    });
    this.tcpReceived = new Counter({
      name: 'istio_tcp_received_bytes_total',
      help: 'Bytes received during request in TCP connections',
      labelNames,
      registers: r,
    });
    this.downstreamRefused = new Counter({
      name: 'meshgate_proxy_downstream_refused_total',
      help: 'Downstream connections closed before proxying, by reason',
      labelNames: ['listener', 'reason'],
      registers: r,
    });
    this.handshakeFailures = new Counter({
      name: 'meshgate_proxy_tls_handshake_failures_total',
      help: 'TLS handshake or peer verification failures, by side (downstream listener / upstream cluster) and reason',
      labelNames: ['side', 'name', 'reason'],
      registers: r,
    });
    this.activeConnections = new Gauge({
      name: 'meshgate_proxy_active_connections',
      help: 'Downstream connections currently open, by listener',
      labelNames: ['listener'],
      registers: r,
    });
    this.listenerConnectionOverflow = new Counter({
      name: 'meshgate_proxy_downstream_cx_overflow_total',
      help: "Connections refused at accept by the listener's connection limit (Envoy: downstream_cx_overflow)",
      labelNames: ['listener'],
      registers: r,
    });
    this.globalConnectionOverflow = new Counter({
      name: 'meshgate_proxy_downstream_global_cx_overflow_total',
      help: 'Connections refused at accept by the global downstream connection limit (Envoy: downstream_global_cx_overflow)',
      labelNames: ['listener'],
      registers: r,
    });
    this.upstreamConnectFailures = new Counter({
      name: 'meshgate_proxy_upstream_connect_failures_total',
      help: 'Upstream connection attempts that failed, by cluster and reason',
      labelNames: ['cluster', 'reason'],
      registers: r,
    });
    this.upstreamOverflow = new Counter({
      name: 'meshgate_proxy_upstream_overflow_total',
      help: 'Connections refused by the circuit breaker (max_connections)',
      labelNames: ['cluster'],
      registers: r,
    });
    this.outlierEjections = new Counter({
      name: 'meshgate_proxy_outlier_ejections_total',
      help: 'Hosts ejected by outlier detection',
      labelNames: ['cluster'],
      registers: r,
    });
    this.configUpdates = new Counter({
      name: 'meshgate_proxy_config_updates_total',
      help: 'xDS updates applied or rejected, by type',
      labelNames: ['type', 'result'],
      registers: r,
    });
    this.listenerCreateFailures = new Counter({
      name: 'meshgate_proxy_listener_create_failures_total',
      help: 'Listeners of an LDS update that could not bind their address, by listener and errno (Envoy: listener_manager.listener_create_failure)',
      labelNames: ['listener', 'reason'],
      registers: r,
    });
  }

  /**
   * Gauges read when scraped (nothing per connection): open downstream connections that count toward the
   * global cap, the cap, and its pressure as Envoy's overload manager reports it for its resource monitor.
   */
  observeGlobalConnections(read: () => GlobalConnections): void {
    const r = [this.registry];
    new Gauge({
      name: 'meshgate_proxy_global_downstream_connections',
      help: 'Downstream connections open that count toward the global limit',
      registers: r,
      collect() {
        this.set(read().active);
      },
    });
    new Gauge({
      name: 'meshgate_proxy_global_downstream_max_connections',
      help: 'The global downstream connection limit',
      registers: r,
      collect() {
        this.set(read().limit);
      },
    });
    new Gauge({
      name: 'meshgate_proxy_overload_global_downstream_max_connections_pressure',
      help: "Open downstream connections / the global limit, 0..1 (Envoy's overload.<monitor>.pressure)",
      registers: r,
      collect() {
        const g = read();
        this.set(g.limit > 0 ? Math.min(1, g.active / g.limit) : 1);
      },
    });
  }
}

export interface GlobalConnections {
  active: number;
  limit: number;
}
