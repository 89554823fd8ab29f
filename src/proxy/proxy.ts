// The proxy: Envoy's L4 data plane driven by Envoy v3 resources in canonical JSON form. The agent (or a
// test) feeds it listeners, clusters, endpoints and secrets; each apply* validates the whole update first
// and throws ProxyConfigError (the agent NACKs it) leaving the running configuration untouched. The one
// exception is Envoy's: listeners that cannot bind are left out of an LDS update that is otherwise
// applied (ListenersNotBoundError, NACKed with their names; config_dump shows their error_state).
// This file is the facade: the listener, cluster and secret managers do the work, config-dump.ts and
// istio-labels.ts read them; what listeners and filters need from the proxy is the ListenerDeps below.
import type net from 'node:net';
import { jsonLogFn } from '../shared/log.js';
import type { Cluster, ClusterLoadAssignment, Listener, Secret } from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import { referencedSecrets } from '../envoy/resource-refs.js';
import type { ProxyNode } from '../envoy/node.js';
import { AccessLogger, type AccessLogOptions } from './access-log.js';
import type { ClusterRuntime, DnsResolver } from './cluster.js';
import { ClusterManager, type ClusterStatus } from './cluster-manager.js';
import { configDump } from './config-dump.js';
import { IstioLabels } from './istio-labels.js';
import { ListenerManager } from './listener-manager.js';
import type { ListenerDeps, ListenerRuntime } from './listener-runtime.js';
import type { DownstreamConnection, LogFn, OriginalDestination, ProxySession } from './proxy-context.js';
import type { SecretStore } from './secrets.js';
import { SecretManager, type CertificateInfo } from './secret-manager.js';
import { ProxyStats } from './stats.js';
import type { UpstreamHost } from './host.js';
import { ConnectionLimits, type ConnectionLimitSettings } from './connection-limits.js';

export interface ProxyOptions {
  /** Who this proxy is: used for Istio's metric labels (reporter, workload, namespace). */
  node?: ProxyNode;
  /** The proxy-wide access log (Istio: /dev/stdout, text). */
  accessLog?: AccessLogOptions;
  /** How long connections of a removed or changed listener may run before they are closed (Istio: 45 s). */
  drainTimeoutMs?: number;
  /** Original destination of a redirected connection; defaults to the socket's local address (no iptables). */
  originalDestination?: (sock: net.Socket) => OriginalDestination | undefined;
  resolver?: DnsResolver;
  random?: () => number;
  now?: () => number;
  log?: LogFn;
  /** Istio's tcp_reporting_duration: how often byte counters of open connections are reported (15 s). */
  reportIntervalMs?: number;
  /** Downstream connection caps (global and per listener); the global one has a default (connection-limits.ts). */
  connectionLimits?: ConnectionLimitSettings;
}

/** The proxy's log when none is given: the one JSON logger, scope `proxy` (debug with MESHGATE_DEBUG=1). */
export const defaultLog: LogFn = jsonLogFn({ scope: 'proxy' });

export class Proxy implements ListenerDeps {
  readonly stats = new ProxyStats();
  readonly secrets: SecretStore;
  readonly log: LogFn;
  readonly random: () => number;
  readonly now: () => number;
  readonly limits: ConnectionLimits;
  private readonly listenerManager: ListenerManager;
  private readonly clusterManager: ClusterManager;
  private readonly secretManager: SecretManager;
  private readonly labels: IstioLabels;
  private readonly loggers = new Map<string, AccessLogger>();
  private readonly mainLogger: AccessLogger | undefined;
  private readonly sessions = new Set<ProxySession>();
  private readonly reportTimer: NodeJS.Timeout;
  /** The initial fetch completed (see isReady); stays true. */
  private initialized = false;
  private closing = false;

  constructor(private readonly opts: ProxyOptions = {}) {
    this.log = opts.log ?? defaultLog;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    if (opts.accessLog && (opts.accessLog.path || opts.accessLog.sink)) this.mainLogger = new AccessLogger(opts.accessLog);
    this.reportTimer = setInterval(() => {
      for (const s of this.sessions) s.report();
    }, opts.reportIntervalMs ?? 15_000);
    this.reportTimer.unref();
    this.secretManager = new SecretManager(this.stats, this.log, this.now);
    this.secrets = this.secretManager.store;
    this.limits = new ConnectionLimits(opts.connectionLimits ?? {}, this.stats, this.log, this.now);
    this.listenerManager = new ListenerManager(this);
    this.clusterManager = new ClusterManager({
      secrets: this.secrets,
      stats: this.stats,
      resolver: opts.resolver,
      random: this.random,
      now: this.now,
      log: this.log,
    });
    this.labels = new IstioLabels(opts.node, this.secrets, this.clusterManager, this.listenerManager);
  }

  /** Changes connection caps for new connections (admin's /runtime_modify); open connections are never closed by it. */
  setConnectionLimits(settings: ConnectionLimitSettings): void {
    this.limits.update(settings);
  }

  get node(): ProxyNode | undefined {
    return this.opts.node;
  }

  // ------------------------------------------------------------------ xDS updates

  /** LDS, state of the world: listeners not in `ls` are removed (their connections drain). */
  applyListeners(ls: Listener[], version = ''): Promise<void> {
    return this.listenerManager.apply(ls, version);
  }

  /** CDS, state of the world. Unchanged clusters keep their state (ejections, DNS results). */
  applyClusters(cs: Cluster[], version = ''): void {
    this.clusterManager.applyClusters(cs, version);
  }

  /** EDS: replaces the endpoints of the named clusters (others keep theirs). */
  applyEndpoints(clas: ClusterLoadAssignment[], version = ''): void {
    this.clusterManager.applyEndpoints(clas, version);
  }

  /** SDS: adds or replaces the given secrets; new handshakes use them at once, open connections keep theirs. */
  applySecrets(ss: Secret[], version = ''): void {
    this.secretManager.apply(ss, version);
    this.refreshTls();
  }

  /** The agent's local SDS: the workload certificate (`default`) and the mesh trust bundle (`ROOTCA`). */
  setLocalSecret(name: 'default' | 'ROOTCA', secret: Secret): void {
    this.secretManager.setLocal(name, secret);
    this.refreshTls();
  }

  /** Envoy rebuilds the SSL contexts of a secret when it changes: the contexts in use are rebuilt now, not on the next handshake. */
  private refreshTls(): void {
    this.listenerManager.refreshTls(this.secrets);
    this.clusterManager.refreshTls(this.secrets);
  }

  // ------------------------------------------------------------------ ListenerDeps / ProxyContext

  getCluster(name: string): ClusterRuntime | undefined {
    return this.clusterManager.get(name);
  }

  originalDestination(sock: net.Socket): OriginalDestination | undefined {
    return this.opts.originalDestination?.(sock);
  }

  findListenerFor(dst: OriginalDestination, _from: ListenerRuntime): ListenerRuntime | undefined {
    return this.listenerManager.findFor(dst);
  }

  drainTimeoutMs(): number {
    return this.opts.drainTimeoutMs ?? 45_000;
  }

  accessLoggers(paths: { path: string; format: 'text' | 'json' }[]): AccessLogger[] {
    const out: AccessLogger[] = this.mainLogger ? [this.mainLogger] : [];
    for (const p of paths) {
      const k = `${p.path}|${p.format}`;
      let l = this.loggers.get(k);
      if (!l) {
        l = new AccessLogger(p);
        this.loggers.set(k, l);
      }
      out.push(l);
    }
    return out;
  }

  connectionClosed(c: DownstreamConnection, loggers: AccessLogger[]): void {
    const si = c.si;
    si.durationMs = Date.now() - si.startTime;
    for (const l of loggers) l.log(si);
  }

  registerSession(s: ProxySession): void {
    this.sessions.add(s);
  }

  unregisterSession(s: ProxySession): void {
    this.sessions.delete(s);
  }

  istioLabels(c: DownstreamConnection, upstream?: UpstreamHost): Record<string, string> {
    return this.labels.of(c, upstream);
  }

  // ------------------------------------------------------------------ introspection and lifecycle

  /** Proxied connections and the bytes they hold in user-space buffers (what backpressure bounds). */
  sessionStats(): { sessions: number; bufferedBytes: number } {
    let b = 0;
    for (const s of this.sessions) b += s.buffered();
    return { sessions: this.sessions.size, bufferedBytes: b };
  }

  /** The bound address of a listener (useful when the config asked for port 0). */
  listenerAddress(name: string): { address: string; port: number } | undefined {
    return this.listenerManager.address(name);
  }

  listenerNames(): string[] {
    return this.listenerManager.names();
  }

  /** The listener resources in force (what config_dump shows as active), for the secrets they name. */
  runningListenerConfigs(): Listener[] {
    return this.listenerManager.running();
  }

  /**
   * Ready once the first LDS and CDS updates were applied and every SDS secret their listeners and
   * clusters name has arrived (Envoy's initial fetch, with its warming), and not draining. Once ready,
   * a secret withdrawn later does not make the proxy unready again (as Envoy's init manager).
   */
  isReady(): boolean {
    if (this.closing || !this.listenerManager.received || !this.clusterManager.received) return false;
    if (this.initialized) return true;
    for (const v of this.listenerManager.versions.values())
      for (const n of referencedSecrets(TypeUrl.Listener, v.value)) if (!this.secrets.get(n)) return false;
    for (const v of this.clusterManager.versions.values())
      for (const n of referencedSecrets(TypeUrl.Cluster, v.value)) if (!this.secrets.get(n)) return false;
    this.initialized = true;
    return true;
  }

  /** Config in Envoy's /config_dump JSON shape (secrets redacted). */
  configDump(includeEds = false): { configs: Record<string, unknown>[] } {
    return configDump(
      { node: this.opts.node, listeners: this.listenerManager, clusters: this.clusterManager, secrets: this.secretManager },
      includeEds,
    );
  }

  /** Live host state per cluster, for /clusters and `proxy-config endpoints`. */
  clusterStatus(): ClusterStatus[] {
    return this.clusterManager.status();
  }

  /** Every certificate the proxy holds: serial, SANs, issuer, expiry (Envoy's /certs). */
  certs(): CertificateInfo[] {
    return this.secretManager.certs();
  }

  /** Stops accepting on every listener; open connections run until the drain timeout (SIGTERM, /drain_listeners). */
  async drainListeners(drainMs = this.drainTimeoutMs()): Promise<void> {
    this.closing = true;
    await this.listenerManager.drainAll(drainMs);
  }

  /** Drains (up to drainMs), then releases everything. */
  async close(drainMs = 0): Promise<void> {
    await this.drainListeners(drainMs);
    clearInterval(this.reportTimer);
    this.secretManager.close();
    this.limits.close();
    this.clusterManager.close();
    await Promise.all([...this.loggers.values(), ...(this.mainLogger ? [this.mainLogger] : [])].map((l) => l.close()));
  }
}
