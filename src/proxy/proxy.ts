// The proxy: Envoy's L4 data plane driven by Envoy v3 resources in canonical JSON form. The agent (or a
// test) feeds it listeners, clusters, endpoints and secrets; each apply* validates the whole update first
// and throws ProxyConfigError (the agent NACKs it) leaving the running configuration untouched. The one
// exception is Envoy's: listeners that cannot bind are left out of an LDS update that is otherwise
// applied (ListenersNotBoundError, NACKed with their names; config_dump shows their error_state).
import type net from 'node:net';
import type { Cluster, ClusterLoadAssignment, Listener, Secret } from '../xds/envoy-types.js';
import { TypeUrl } from '../xds/envoy-types.js';
import { referencedSecrets } from '../xds/resource-refs.js';
import { redactSecrets } from '../xds/redact.js';
import type { ProxyNode } from '../xds/node.js';
import { AccessLogger, type AccessLogOptions } from './access-log.js';
import { ClusterRuntime, systemResolver, validateAssignment, type DnsResolver } from './cluster.js';
import { ListenerBindError, ListenersNotBoundError, ProxyConfigError } from './errors.js';
import { CompiledListener } from './listener-compile.js';
import { ListenerRuntime, type ListenerDeps } from './listener-runtime.js';
import type { DownstreamConnection, LogFn, OriginalDestination, ProxySession } from './proxy-context.js';
import { SecretStore } from './secrets.js';
import { ProxyStats } from './stats.js';
import { peerIdentityOf } from './tls-context.js';
import { X509Certificate } from 'node:crypto';
import { CertificateExpiryWatch } from './certificate-expiry.js';
import type { UpstreamHost } from './host.js';
import { decodeWorkloadMetadata, UNKNOWN, workloadMetadataOf, type WorkloadMetadata } from '../xds/workload-metadata.js';
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

interface Versioned<T> { value: T; version: string; lastUpdated: string }

export const defaultLog: LogFn = (level, msg, fields) => {
  if (level === 'debug' && process.env.MESHGATE_DEBUG !== '1') return;
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
};

function namespaceOfPrincipal(p: string): string {
  return /\/ns\/([^/]+)\//.exec(p)?.[1] ?? 'unknown';
}

export class Proxy implements ListenerDeps {
  readonly secrets = new SecretStore();
  readonly stats = new ProxyStats();
  readonly log: LogFn;
  readonly random: () => number;
  readonly now: () => number;
  readonly limits: ConnectionLimits;
  private readonly listeners = new Map<string, ListenerRuntime>();
  private readonly listenerVersions = new Map<string, Versioned<Listener>>();
  /** Listeners of the last LDS update that could not bind (Envoy's UpdateFailureState per listener). */
  private readonly listenerErrors = new Map<string, { failedConfiguration: Listener; lastUpdateAttempt: string; details: string; versionInfo: string }>();
  private readonly clusters = new Map<string, ClusterRuntime>();
  private readonly clusterVersions = new Map<string, Versioned<Cluster>>();
  private readonly endpoints = new Map<string, Versioned<ClusterLoadAssignment>>();
  private readonly secretVersions = new Map<string, { version: string; lastUpdated: string }>();
  private readonly loggers = new Map<string, AccessLogger>();
  private readonly mainLogger: AccessLogger | undefined;
  private readonly sessions = new Set<ProxySession>();
  private readonly reportTimer: NodeJS.Timeout;
  private readonly expiry: CertificateExpiryWatch;
  private listenersReceived = false;
  private clustersReceived = false;
  /** The initial fetch completed (see isReady); stays true. */
  private initialized = false;
  private closing = false;
  private serial = Promise.resolve();

  constructor(private readonly opts: ProxyOptions = {}) {
    this.log = opts.log ?? defaultLog;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    if (opts.accessLog && (opts.accessLog.path || opts.accessLog.sink)) this.mainLogger = new AccessLogger(opts.accessLog);
    this.reportTimer = setInterval(() => { for (const s of this.sessions) s.report(); }, opts.reportIntervalMs ?? 15_000);
    this.reportTimer.unref();
    this.expiry = new CertificateExpiryWatch(this.stats.registry, () => this.certs(), this.log, this.now);
    this.limits = new ConnectionLimits(opts.connectionLimits ?? {}, this.stats, this.log, this.now);
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
    // Updates run one after another: a second LDS push waits for the first one's binds.
    const run = this.serial.then(() => this.applyListenersNow(ls, version));
    this.serial = run.catch(() => undefined);
    return run;
  }

  private async applyListenersNow(ls: Listener[], version: string): Promise<void> {
    try {
      if (!Array.isArray(ls)) throw new ProxyConfigError('listeners', '(update)', 'must be a list of Listener');
      const compiled = new Map<string, CompiledListener>();
      ls.forEach((l, i) => {
        const c = new CompiledListener(l, this.listeners.get(l?.name)?.config);
        if (compiled.has(c.name)) throw new ProxyConfigError(`listener "${c.name}"`, 'name', `appears twice in the update (index ${i})`);
        compiled.set(c.name, c);
      });
      const bound = new Map<string, string>();
      for (const c of compiled.values()) {
        if (!c.bindToPort) continue;
        const k = `${c.address}:${c.port}`;
        if (c.port !== 0 && bound.has(k)) throw new ProxyConfigError(`listener "${c.name}"`, 'address', `${k} is also the address of listener "${bound.get(k)}"`);
        bound.set(k, c.name);
      }
      // Bind every new socket before changing anything. A listener that cannot bind is left out and the
      // rest applied, as Envoy's listener manager does (lds_api.cc adds each listener on its own and NACKs
      // with the failing ones named); a listener it would replace keeps serving, and a later update that
      // still carries it tries the bind again (it is not among the running listeners).
      const fresh: ListenerRuntime[] = [];
      const updates: [ListenerRuntime, CompiledListener][] = [];
      for (const c of compiled.values()) {
        const cur = this.listeners.get(c.name);
        if (cur && cur.config.json === c.json) continue;
        if (cur && cur.config.sameSocket(c)) { updates.push([cur, c]); continue; }
        const rt = new ListenerRuntime(c, this);
        fresh.push(rt);
      }
      const failures: ListenerBindError[] = [];
      const serving: ListenerRuntime[] = [];
      for (const rt of fresh) {
        try {
          await rt.bind();
          serving.push(rt);
        } catch (err) {
          await rt.close(0);
          if (!(err instanceof ListenerBindError)) {
            await Promise.all(serving.map((rt2) => rt2.close(0)));
            throw err;
          }
          failures.push(err);
        }
      }
      const at = new Date().toISOString();
      for (const [rt, c] of updates) rt.update(c);
      for (const rt of serving) {
        const old = this.listeners.get(rt.name);
        this.listeners.set(rt.name, rt);
        if (old) void old.close(this.drainTimeoutMs());
      }
      for (const [name, rt] of this.listeners) {
        if (!compiled.has(name)) {
          this.listeners.delete(name);
          this.listenerVersions.delete(name);
          this.log('info', `listener "${name}" removed; draining ${rt.connections.size} connection(s)`);
          void rt.close(this.drainTimeoutMs());
        }
      }
      const failed = new Set(failures.map((f) => f.listener));
      for (const c of compiled.values()) {
        if (failed.has(c.name)) continue;
        const prev = this.listenerVersions.get(c.name);
        if (!prev || JSON.stringify(prev.value) !== c.json) this.listenerVersions.set(c.name, { value: c.raw, version, lastUpdated: at });
      }
      // Envoy's config_dump error_state: the last failed attempt per listener, until it binds or leaves the update.
      for (const name of this.listenerErrors.keys()) if (!failed.has(name)) this.listenerErrors.delete(name);
      for (const f of failures) {
        this.listenerErrors.set(f.listener, { failedConfiguration: compiled.get(f.listener)!.raw, lastUpdateAttempt: at, details: f.message, versionInfo: version });
        this.stats.listenerCreateFailures.inc({ listener: f.listener, reason: f.errno });
        this.log('error', `listener "${f.listener}" failed to bind ${f.address} (${f.errno}); the other listeners of the update are applied`, { listener: f.listener, address: f.address, errno: f.errno });
      }
      // Readiness is not held back by a listener that cannot bind: Envoy marks LDS initialized after the
      // first update whatever its per-listener errors (a bind that keeps failing would otherwise keep
      // the whole proxy out of service, including the listeners that serve).
      this.listenersReceived = true;
      if (failures.length > 0) throw new ListenersNotBoundError(failures);
      this.stats.configUpdates.inc({ type: 'listener', result: 'accepted' });
    } catch (err) {
      this.stats.configUpdates.inc({ type: 'listener', result: 'rejected' });
      throw err;
    }
  }

  /** CDS, state of the world. Unchanged clusters keep their state (ejections, DNS results). */
  applyClusters(cs: Cluster[], version = ''): void {
    try {
      if (!Array.isArray(cs)) throw new ProxyConfigError('clusters', '(update)', 'must be a list of Cluster');
      const next = new Map<string, ClusterRuntime>();
      const deps = {
        secrets: this.secrets, resolver: this.opts.resolver ?? systemResolver, random: this.random, now: this.now,
        log: this.log, onEjected: (cluster: string) => this.stats.outlierEjections.inc({ cluster }),
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
        const prev = this.clusterVersions.get(name);
        if (!prev || prev.value !== rt.raw) {
          this.clusterVersions.set(name, { value: rt.raw, version, lastUpdated: at });
          if (rt.type === 'EDS') {
            const cla = this.endpoints.get(rt.edsServiceName);
            if (cla) rt.setAssignment(cla.value);
          }
          rt.start();
        }
      }
      for (const name of this.clusterVersions.keys()) if (!next.has(name)) this.clusterVersions.delete(name);
      this.clustersReceived = true;
      this.stats.configUpdates.inc({ type: 'cluster', result: 'accepted' });
    } catch (err) {
      this.stats.configUpdates.inc({ type: 'cluster', result: 'rejected' });
      throw err;
    }
  }

  /** EDS: replaces the endpoints of the named clusters (others keep theirs). */
  applyEndpoints(clas: ClusterLoadAssignment[], version = ''): void {
    try {
      if (!Array.isArray(clas)) throw new ProxyConfigError('endpoints', '(update)', 'must be a list of ClusterLoadAssignment');
      clas.forEach(validateAssignment);
      const at = new Date().toISOString();
      for (const cla of clas) {
        this.endpoints.set(cla.clusterName, { value: cla, version, lastUpdated: at });
        for (const rt of this.clusters.values()) if (rt.type === 'EDS' && rt.edsServiceName === cla.clusterName) rt.setAssignment(cla);
      }
      this.stats.configUpdates.inc({ type: 'endpoint', result: 'accepted' });
    } catch (err) {
      this.stats.configUpdates.inc({ type: 'endpoint', result: 'rejected' });
      throw err;
    }
  }

  /** SDS: adds or replaces the given secrets; new handshakes use them at once, open connections keep theirs. */
  applySecrets(ss: Secret[], version = ''): void {
    try {
      const changed = this.secrets.apply(ss, 'sds');
      const at = new Date().toISOString();
      for (const n of changed) this.secretVersions.set(n, { version, lastUpdated: at });
      if (changed.length > 0) this.log('info', `secrets updated: ${changed.join(', ')}`);
      this.expiry.secretsChanged(changed);
      this.stats.configUpdates.inc({ type: 'secret', result: 'accepted' });
    } catch (err) {
      this.stats.configUpdates.inc({ type: 'secret', result: 'rejected' });
      throw err;
    }
  }

  /** The agent's local SDS: the workload certificate (`default`) and the mesh trust bundle (`ROOTCA`). */
  setLocalSecret(name: 'default' | 'ROOTCA', secret: Secret): void {
    const changed = this.secrets.apply([{ ...secret, name }], 'local');
    const at = new Date().toISOString();
    for (const n of changed) this.secretVersions.set(n, { version: 'local', lastUpdated: at });
    if (changed.length > 0) this.log('info', `local secret "${name}" updated`);
    this.expiry.secretsChanged(changed);
  }

  // ------------------------------------------------------------------ ListenerDeps / ProxyContext

  getCluster(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  originalDestination(sock: net.Socket): OriginalDestination | undefined {
    return this.opts.originalDestination?.(sock);
  }

  findListenerFor(dst: OriginalDestination, _from: ListenerRuntime): ListenerRuntime | undefined {
    let wildcard: ListenerRuntime | undefined;
    for (const l of this.listeners.values()) {
      if (l.config.port !== dst.port) continue;
      if (l.config.address === dst.address) return l;
      if (l.config.address === '0.0.0.0' || l.config.address === '::') wildcard = l;
    }
    return wildcard;
  }

  drainTimeoutMs(): number {
    return this.opts.drainTimeoutMs ?? 45_000;
  }

  accessLoggers(paths: { path: string; format: 'text' | 'json' }[]): AccessLogger[] {
    const out: AccessLogger[] = this.mainLogger ? [this.mainLogger] : [];
    for (const p of paths) {
      const k = `${p.path}|${p.format}`;
      let l = this.loggers.get(k);
      if (!l) { l = new AccessLogger(p); this.loggers.set(k, l); }
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
    const own = this.ownWorkload();
    const ownPrincipal = this.ownPrincipal() || UNKNOWN;
    const si = c.si;
    const cluster = this.clusters.get(si.upstreamCluster);
    const svc = cluster?.service;
    const inbound = c.trafficDirection === 'INBOUND';
    const peerDown = c.downstreamPeer?.principal ?? '';
    const peerUp = si.upstreamPeerPrincipal;
    // The peer: on inbound, the verified client's entry in the listener's peer table; on outbound, the
    // chosen endpoint's metadata. Only a verified principal selects a table entry.
    const peer = inbound ? (peerDown ? this.inboundPeers(si.listener).get(peerDown) : undefined) : upstream?.workload;
    const src = inbound ? peer : own;
    const dst = inbound ? own : peer;
    return {
      reporter: inbound ? 'destination' : 'source',
      source_workload: src?.workload ?? UNKNOWN,
      source_workload_namespace: inbound ? (peer?.namespace ?? (peerDown ? namespaceOfPrincipal(peerDown) : UNKNOWN)) : own.namespace,
      source_principal: inbound ? peerDown || UNKNOWN : ownPrincipal,
      destination_workload: dst?.workload ?? UNKNOWN,
      destination_workload_namespace: inbound ? own.namespace : (peer?.namespace ?? (peerUp ? namespaceOfPrincipal(peerUp) : svc?.namespace || UNKNOWN)),
      destination_principal: inbound ? ownPrincipal : peerUp || UNKNOWN,
      destination_service: svc?.host || UNKNOWN,
      destination_service_name: svc?.name || UNKNOWN,
      destination_service_namespace: svc?.namespace || UNKNOWN,
      connection_security_policy: inbound ? (c.downstreamPeer ? 'mutual_tls' : 'none') : UNKNOWN,
      response_flags: si.responseFlags || '-',
      source_app: src?.app ?? UNKNOWN,
      source_version: src?.version ?? UNKNOWN,
      source_canonical_service: src?.canonicalService ?? UNKNOWN,
      source_canonical_revision: src?.canonicalRevision ?? UNKNOWN,
      source_cluster: src?.cluster ?? UNKNOWN,
      destination_app: dst?.app ?? UNKNOWN,
      destination_version: dst?.version ?? UNKNOWN,
      destination_canonical_service: dst?.canonicalService ?? UNKNOWN,
      destination_canonical_revision: dst?.canonicalRevision ?? UNKNOWN,
      destination_cluster: dst?.cluster ?? UNKNOWN,
      request_protocol: 'tcp',
    };
  }

  private ownWorkloadCache: WorkloadMetadata | undefined;
  /** This proxy's own workload, from its node (labels, pod name, CLUSTER_ID), as Istio's stats name it. */
  private ownWorkload(): WorkloadMetadata {
    const n = this.opts.node;
    if (!n) return { workload: UNKNOWN, namespace: UNKNOWN, canonicalService: UNKNOWN, canonicalRevision: UNKNOWN, cluster: UNKNOWN, app: UNKNOWN, version: UNKNOWN };
    this.ownWorkloadCache ??= workloadMetadataOf({ podName: n.podName, namespace: n.namespace, labels: n.labels, cluster: n.clusterId });
    return this.ownWorkloadCache;
  }

  /** The peer table an inbound listener carries, decoded once per listener version. */
  private readonly peerTables = new WeakMap<Listener, Map<string, WorkloadMetadata>>();
  private inboundPeers(listenerName: string): Map<string, WorkloadMetadata> {
    const l = this.listenerVersions.get(listenerName)?.value;
    if (!l) return new Map();
    let table = this.peerTables.get(l);
    if (!table) {
      table = new Map();
      const peers = l.metadata?.filterMetadata?.meshgate?.peers;
      if (peers && typeof peers === 'object') {
        for (const [principal, entry] of Object.entries(peers as Record<string, unknown>)) {
          const m = decodeWorkloadMetadata(entry as Record<string, unknown>);
          if (m) table.set(principal, m);
        }
      }
      this.peerTables.set(l, table);
    }
    return table;
  }

  private ownPrincipalCache: { version: number; principal: string } | undefined;
  private ownPrincipal(): string {
    const s = this.secrets.get('default');
    if (!s?.certChainPem) return '';
    if (this.ownPrincipalCache?.version !== s.version) {
      const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(s.certChainPem)?.[0];
      this.ownPrincipalCache = { version: s.version, principal: first ? peerIdentityOf(new X509Certificate(first))?.principal ?? '' : '' };
    }
    return this.ownPrincipalCache.principal;
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
    return this.listeners.get(name)?.boundAddress();
  }

  listenerNames(): string[] {
    return [...this.listeners.keys()];
  }

  /** The listener resources in force (what config_dump shows as active), for the secrets they name. */
  runningListenerConfigs(): Listener[] {
    return [...this.listenerVersions.values()].map((v) => v.value);
  }

  /**
   * Ready once the first LDS and CDS updates were applied and every SDS secret their listeners and
   * clusters name has arrived (Envoy's initial fetch, with its warming), and not draining. Once ready,
   * a secret withdrawn later does not make the proxy unready again (as Envoy's init manager).
   */
  isReady(): boolean {
    if (this.closing || !this.listenersReceived || !this.clustersReceived) return false;
    if (this.initialized) return true;
    for (const v of this.listenerVersions.values()) for (const n of referencedSecrets(TypeUrl.Listener, v.value)) if (!this.secrets.get(n)) return false;
    for (const v of this.clusterVersions.values()) for (const n of referencedSecrets(TypeUrl.Cluster, v.value)) if (!this.secrets.get(n)) return false;
    this.initialized = true;
    return true;
  }

  /** Config in Envoy's /config_dump JSON shape. */
  configDump(includeEds = false): { configs: Record<string, unknown>[] } {
    const configs: Record<string, unknown>[] = [];
    configs.push({ '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: this.opts.node ? { id: this.opts.node.id, cluster: this.opts.node.namespace, metadata: { NAMESPACE: this.opts.node.namespace, SERVICE_ACCOUNT: this.opts.node.serviceAccount, LABELS: this.opts.node.labels, CLUSTER_ID: this.opts.node.clusterId } } : {} } });
    configs.push({
      '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      dynamicActiveClusters: [...this.clusterVersions.values()].map((v) => ({ versionInfo: v.version, cluster: { '@type': TypeUrl.Cluster, ...v.value }, lastUpdated: v.lastUpdated })),
    });
    configs.push({
      '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      dynamicListeners: [...new Set([...this.listenerVersions.keys(), ...this.listenerErrors.keys()])].map((name) => {
        const v = this.listenerVersions.get(name);
        const e = this.listenerErrors.get(name);
        return {
          name,
          ...(v ? { activeState: { versionInfo: v.version, listener: { '@type': TypeUrl.Listener, ...v.value }, lastUpdated: v.lastUpdated } } : {}),
          ...(e ? { errorState: { failedConfiguration: { '@type': TypeUrl.Listener, ...e.failedConfiguration }, lastUpdateAttempt: e.lastUpdateAttempt, details: e.details, versionInfo: e.versionInfo } } : {}),
        };
      }),
    });
    if (includeEds) {
      configs.push({
        '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
        dynamicEndpointConfigs: [...this.endpoints.values()].map((v) => ({ versionInfo: v.version, endpointConfig: { '@type': TypeUrl.ClusterLoadAssignment, ...v.value }, lastUpdated: v.lastUpdated })),
      });
    }
    configs.push({
      '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
      dynamicActiveSecrets: this.secrets.all().map((s) => ({
        name: s.name, versionInfo: this.secretVersions.get(s.name)?.version ?? '', lastUpdated: this.secretVersions.get(s.name)?.lastUpdated,
        secret: { '@type': TypeUrl.Secret, ...s.raw },
      })),
    });
    // Envoy prints private keys and generic secrets as "[redacted]", in SDS secrets and inline alike.
    return redactSecrets({ configs });
  }

  /** Live host state per cluster, for /clusters and `proxy-config endpoints`. */
  clusterStatus(): { name: string; hosts: { address: string; port: number; healthy: boolean; ejected: boolean; active: number; weight: number }[] }[] {
    const now = this.now();
    return [...this.clusters.values()].map((c) => ({
      name: c.name,
      hosts: c.hosts.map((h) => ({ address: h.address, port: h.port, healthy: h.healthy, ejected: h.isEjected(now), active: h.active, weight: h.weight })),
    }));
  }

  /** Every certificate the proxy holds: serial, SANs, issuer, expiry (Envoy's /certs). */
  certs(): { name: string; kind: 'certificate' | 'ca'; serial: string; subject: string; sans: string[]; issuer: string; validFrom: string; validTo: string; daysUntilExpiration: number }[] {
    const out: ReturnType<Proxy['certs']> = [];
    for (const s of this.secrets.all()) {
      for (const [kind, pem] of [['certificate', s.certChainPem], ['ca', s.trustedCaPem]] as const) {
        if (!pem) continue;
        for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
          const x = new X509Certificate(block);
          out.push({
            name: s.name, kind, serial: x.serialNumber, subject: x.subject, sans: (x.subjectAltName ?? '').split(', ').filter(Boolean),
            issuer: x.issuer, validFrom: new Date(x.validFrom).toISOString(), validTo: new Date(x.validTo).toISOString(),
            daysUntilExpiration: Math.floor((new Date(x.validTo).getTime() - this.now()) / 86_400_000),
          });
          if (kind === 'certificate') break; // the leaf is what is "in use"; the chain's CAs are listed by the ROOTCA entry
        }
      }
    }
    return out;
  }

  /** Stops accepting on every listener; open connections run until the drain timeout (SIGTERM, /drain_listeners). */
  async drainListeners(drainMs = this.drainTimeoutMs()): Promise<void> {
    this.closing = true;
    const ls = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(ls.map((l) => l.close(drainMs)));
  }

  /** Drains (up to drainMs), then releases everything. */
  async close(drainMs = 0): Promise<void> {
    await this.drainListeners(drainMs);
    clearInterval(this.reportTimer);
    this.expiry.close();
    this.limits.close();
    for (const c of this.clusters.values()) c.close();
    await Promise.all([...this.loggers.values(), ...(this.mainLogger ? [this.mainLogger] : [])].map((l) => l.close()));
  }
}
