// The control plane's Prometheus metrics, under istiod's names where istiod has one (pilot_xds,
// pilot_xds_pushes, pilot_total_xds_rejects, pilot_xds_cds_reject, ...), meshgate_* otherwise.
// One registry per control plane: no global state, so tests can run several.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TypeUrl } from '../envoy/envoy-types.js';
import { NameTableTypeUrl } from '../envoy/name-table.js';

/** Istio's short type label: cds, eds, lds, sds, nds. */
export function shortType(typeUrl: string): string {
  switch (typeUrl) {
    case TypeUrl.Cluster:
      return 'cds';
    case TypeUrl.ClusterLoadAssignment:
      return 'eds';
    case TypeUrl.Listener:
      return 'lds';
    case TypeUrl.Secret:
      return 'sds';
    case NameTableTypeUrl:
      return 'nds';
    default:
      return typeUrl.split('.').pop() ?? typeUrl;
  }
}

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly connected = new Gauge({
    name: 'pilot_xds',
    help: 'Number of endpoints connected to this pilot using XDS.',
    labelNames: ['version'],
    registers: [this.registry],
  });
  readonly pushes = new Counter({
    name: 'pilot_xds_pushes',
    help: 'Responses pushed to proxies, by type (cds, eds, lds, sds, nds).',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly rejects = new Counter({
    name: 'pilot_total_xds_rejects',
    help: 'Total number of XDS responses from pilot rejected by proxy.',
    labelNames: ['type'],
    registers: [this.registry],
  });
  private readonly perTypeRejects = new Map<string, Counter>();
  readonly unauthenticated = new Counter({
    name: 'meshgate_xds_auth_failures_total',
    help: 'xDS streams refused because the peer could not prove an identity matching its node.',
    registers: [this.registry],
  });
  readonly deniedResources = new Counter({
    name: 'meshgate_xds_denied_resources_total',
    help: 'Resources withheld from a proxy not authorized for them (SDS secrets).',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly configDiagnostics = new Counter({
    name: 'meshgate_config_diagnostics_total',
    help: 'Diagnostics reported while loading configuration, by level; on an Error the last valid version of the object stays in force.',
    labelNames: ['level'],
    registers: [this.registry],
  });
  readonly kubeLists = new Counter({
    name: 'meshgate_kube_lists_total',
    help: 'Complete lists read from the Kubernetes API server, by collection: one at start, one more after each 410 Gone.',
    labelNames: ['path'],
    registers: [this.registry],
  });
  readonly kubeWatchErrors = new Counter({
    name: 'meshgate_kube_watch_errors_total',
    help: 'Kubernetes list or watch failures (each retried with backoff), by collection.',
    labelNames: ['path'],
    registers: [this.registry],
  });
  readonly configVersion = new Gauge({
    name: 'meshgate_config_version',
    help: 'Version of the configuration snapshot in force.',
    registers: [this.registry],
  });
  readonly snapshotRejects = new Counter({
    name: 'meshgate_xds_snapshot_rejects_total',
    help: 'Per-proxy snapshots refused as inconsistent or invalid; the previous one stays served.',
    registers: [this.registry],
  });
  /** Istio's buckets (seconds). `push`: 'credential' for the immediate push of a Secret change, 'full' for the debounced one. */
  readonly convergence = new Histogram({
    name: 'pilot_proxy_convergence_time',
    help: 'Delay in seconds between a config change and a proxy being given the resulting configuration.',
    labelNames: ['push'],
    buckets: [0.1, 0.5, 1, 3, 5, 10, 20, 30],
    registers: [this.registry],
  });
  readonly configReadDelay = new Histogram({
    name: 'meshgate_config_read_delay_seconds',
    help: 'Delay in seconds from a change in the config folder being noticed to the config store holding it.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly generateErrors = new Counter({
    name: 'pilot_total_xds_internal_errors',
    help: 'Total number of internal XDS errors in pilot.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Istio also counts rejects per type as pilot_xds_{cds,eds,lds}_reject.
    for (const t of ['cds', 'eds', 'lds', 'sds']) {
      this.perTypeRejects.set(
        t,
        new Counter({
          name: `pilot_xds_${t}_reject`,
          help: `Pilot rejected ${t.toUpperCase()} configs.`,
          labelNames: ['node', 'err'],
          registers: [this.registry],
        }),
      );
    }
  }

  reject(typeUrl: string, nodeId: string, error: string): void {
    const t = shortType(typeUrl);
    this.rejects.inc({ type: t });
    this.perTypeRejects.get(t)?.inc({ node: nodeId, err: error.slice(0, 200) });
  }
}
