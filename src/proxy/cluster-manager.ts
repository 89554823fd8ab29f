// The cluster manager (Envoy's cluster_manager_impl): applies CDS (state of the world; an unchanged cluster
// keeps its state: ejections, DNS results, open connection counts) and EDS (endpoints per service name,
// kept for clusters that arrive later), and keeps what config_dump shows for both.
import type { Cluster, ClusterLoadAssignment } from '../envoy/envoy-types.js';
import { ClusterRuntime, systemResolver, validateAssignment, type DnsResolver } from './cluster.js';
import { ProxyConfigError } from './errors.js';
import type { Versioned } from './listener-manager.js';
import type { LogFn } from './proxy-context.js';
import type { SecretStore } from './secrets.js';
import type { ProxyStats } from './stats.js';

export interface ClusterManagerDeps {
  secrets: SecretStore;
  stats: ProxyStats;
  resolver?: DnsResolver;
  random: () => number;
  now: () => number;
  log: LogFn;
}

/** One cluster's live hosts, for /clusters and `proxy-config endpoints`. */
export interface ClusterStatus {
  name: string;
  hosts: { address: string; port: number; healthy: boolean; ejected: boolean; active: number; weight: number }[];
}

export class ClusterManager {
  private readonly clusters = new Map<string, ClusterRuntime>();
  readonly versions = new Map<string, Versioned<Cluster>>();
  readonly endpoints = new Map<string, Versioned<ClusterLoadAssignment>>();
  /** Set once a CDS update was applied. */
  received = false;

  constructor(private readonly deps: ClusterManagerDeps) {}

  /** After an SDS update: the clusters' upstream TLS contexts in use are rebuilt for the new secret versions. */
  refreshTls(store: SecretStore): void {
    for (const c of this.clusters.values()) c.refreshTls(store);
  }

  get(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  applyClusters(cs: Cluster[], version: string): void {
    try {
      if (!Array.isArray(cs)) throw new ProxyConfigError('clusters', '(update)', 'must be a list of Cluster');
      const next = new Map<string, ClusterRuntime>();
      const deps = {
        secrets: this.deps.secrets,
        resolver: this.deps.resolver ?? systemResolver,
        random: this.deps.random,
        now: this.deps.now,
        log: this.deps.log,
        onEjected: (cluster: string) => this.deps.stats.outlierEjections.inc({ cluster }),
      };
      cs.forEach((c, i) => {
        if (next.has(c?.name)) throw new ProxyConfigError(`cluster "${c.name}"`, 'name', `appears twice in the update (index ${i})`);
        const cur = this.clusters.get(c?.name);
        next.set(c?.name, cur && JSON.stringify(cur.raw) === JSON.stringify(c) ? cur : new ClusterRuntime(c, deps));
      });
      const at = new Date().toISOString();
      for (const [name, rt] of this.clusters) if (next.get(name) !== rt) rt.close();
      this.clusters.clear();
      for (const [name, rt] of next) {
        this.clusters.set(name, rt);
        const prev = this.versions.get(name);
        if (!prev || prev.value !== rt.raw) {
          this.versions.set(name, { value: rt.raw, version, lastUpdated: at });
          if (rt.type === 'EDS') {
            const cla = this.endpoints.get(rt.edsServiceName);
            if (cla) rt.setAssignment(cla.value);
          }
          rt.start();
        }
      }
      for (const name of this.versions.keys()) if (!next.has(name)) this.versions.delete(name);
      this.received = true;
      this.deps.stats.configUpdates.inc({ type: 'cluster', result: 'accepted' });
    } catch (err) {
      this.deps.stats.configUpdates.inc({ type: 'cluster', result: 'rejected' });
      throw err;
    }
  }

  /** EDS: replaces the endpoints of the named clusters (others keep theirs). */
  applyEndpoints(clas: ClusterLoadAssignment[], version: string): void {
    try {
      if (!Array.isArray(clas)) throw new ProxyConfigError('endpoints', '(update)', 'must be a list of ClusterLoadAssignment');
      clas.forEach(validateAssignment);
      const at = new Date().toISOString();
      for (const cla of clas) {
        this.endpoints.set(cla.clusterName, { value: cla, version, lastUpdated: at });
        for (const rt of this.clusters.values()) if (rt.type === 'EDS' && rt.edsServiceName === cla.clusterName) rt.setAssignment(cla);
      }
      this.deps.stats.configUpdates.inc({ type: 'endpoint', result: 'accepted' });
    } catch (err) {
      this.deps.stats.configUpdates.inc({ type: 'endpoint', result: 'rejected' });
      throw err;
    }
  }

  /** Live host state per cluster. */
  status(): ClusterStatus[] {
    const now = this.deps.now();
    return [...this.clusters.values()].map((c) => ({
      name: c.name,
      hosts: c.hosts.map((h) => ({
        address: h.address,
        port: h.port,
        healthy: h.healthy,
        ejected: h.isEjected(now),
        active: h.active,
        weight: h.weight,
      })),
    }));
  }

  close(): void {
    for (const c of this.clusters.values()) c.close();
  }
}
