// A cluster (cluster.v3.Cluster): its host set — STATIC, EDS, STRICT_DNS/LOGICAL_DNS re-resolved on a
// timer, or ORIGINAL_DST — its load balancer, circuit breaker (max_connections), outlier detection and
// upstream transport (plain TCP or UpstreamTlsContext). Opening an upstream connection, with connect
// timeout, TLS handshake and peer verification, happens here; tcp_proxy decides what to do on failure.
import net from 'node:net';
import tls from 'node:tls';
import dns from 'node:dns';
import type { Cluster, ClusterLoadAssignment, TransportSocket } from '../envoy/envoy-types.js';
import { TRANSPORT_SOCKET_MATCH_KEY, TypeUrl } from '../envoy/envoy-types.js';
import { optionalDurationMs } from './duration.js';
import { decodeWorkloadMetadata } from '../envoy/workload-metadata.js';
import { ProxyConfigError } from './errors.js';
import { upstreamTlsErrorCode, type TlsFailureCode } from './failure.js';
import { UpstreamHost } from './host.js';
import { createLoadBalancer, type LbPolicy, type LoadBalancer } from './load-balancer.js';
import { OutlierDetector } from './outlier-detection.js';
import type { SecretStore } from './secrets.js';
import { UpstreamTls, type PeerIdentity } from './tls-context.js';
import type { LogFn } from '../shared/log.js';

/** Resolves a host name to addresses (and TTLs when known). Tests and the lab pass their own. */
export type DnsResolver = (hostname: string, family: 0 | 4 | 6) => Promise<{ address: string; ttlSeconds?: number }[]>;

/** The system resolver (/etc/hosts, then DNS), as Envoy's getaddrinfo resolver. */
export const systemResolver: DnsResolver = async (hostname, family) => {
  const r = await dns.promises.lookup(hostname, { all: true, family });
  return r.map((x) => ({ address: x.address }));
};

interface SessionSetter {
  setSession(session: Buffer): void;
}

/** Envoy's default per-cluster max_connections. */
export const DEFAULT_MAX_CONNECTIONS = 1024;
/** Envoy's healthy_panic_threshold default: below 50% usable hosts, all hosts are used. */
const PANIC_THRESHOLD = 0.5;
export const SOCKET_HIGH_WATER_MARK = 256 * 1024;

export interface UpstreamConnection {
  socket: net.Socket;
  host: UpstreamHost;
  tlsVersion: string;
  tlsCipher: string;
  peer: PeerIdentity | undefined;
  /** Whether the TLS session was resumed from a ticket (no full handshake, no certificate exchange). */
  sessionReused: boolean;
}

export type UpstreamFailureKind = 'connect' | 'timeout' | 'tls' | 'no-secret';
export interface UpstreamFailure {
  kind: UpstreamFailureKind;
  /** For `tls` and `no-secret`: why the handshake failed (the handshake failure counter's label). */
  tls?: TlsFailureCode;
  reason: string;
  host: UpstreamHost;
}

export interface ClusterDeps {
  secrets: SecretStore;
  resolver: DnsResolver;
  random: () => number;
  now: () => number;
  log: LogFn;
  onEjected: (cluster: string, host: UpstreamHost) => void;
}

function hostsFromAssignment(cla: ClusterLoadAssignment, res: string, field: string): UpstreamHost[] {
  // proto3 drops empty repeated fields on the wire: a missing list is an empty one (BlackHoleCluster has none).
  const endpoints = cla?.endpoints ?? [];
  if (!Array.isArray(endpoints)) throw new ProxyConfigError(res, `${field}.endpoints`, 'must be a list of LocalityLbEndpoints');
  const hosts: UpstreamHost[] = [];
  endpoints.forEach((loc, i) => {
    const lbEndpoints = loc.lbEndpoints ?? [];
    if (!Array.isArray(lbEndpoints)) throw new ProxyConfigError(res, `${field}.endpoints[${i}].lbEndpoints`, 'must be a list');
    const locality = [loc.locality?.region, loc.locality?.zone, loc.locality?.subZone].filter(Boolean).join('/');
    lbEndpoints.forEach((e, j) => {
      const f = `${field}.endpoints[${i}].lbEndpoints[${j}]`;
      const sa = e.endpoint?.address?.socketAddress;
      if (!sa || typeof sa.address !== 'string' || sa.address === '')
        throw new ProxyConfigError(res, `${f}.endpoint.address.socketAddress.address`, 'is required');
      if (!Number.isInteger(sa.portValue) || sa.portValue! < 1 || sa.portValue! > 65535)
        throw new ProxyConfigError(
          res,
          `${f}.endpoint.address.socketAddress.portValue`,
          `must be 1..65535, got ${JSON.stringify(sa.portValue)}`,
        );
      const w = e.loadBalancingWeight ?? 1;
      if (!Number.isInteger(w) || w < 1) throw new ProxyConfigError(res, `${f}.loadBalancingWeight`, 'must be a positive integer');
      const hs = e.healthStatus ?? 'UNKNOWN';
      const sm = e.metadata?.filterMetadata?.[TRANSPORT_SOCKET_MATCH_KEY];
      if (sm !== undefined && (typeof sm !== 'object' || sm === null || Array.isArray(sm)))
        throw new ProxyConfigError(res, `${f}.metadata.filterMetadata.${TRANSPORT_SOCKET_MATCH_KEY}`, 'must be an object');
      hosts.push(
        new UpstreamHost(
          sa.address,
          sa.portValue!,
          w,
          hs === 'UNKNOWN' || hs === 'HEALTHY',
          e.endpoint.hostname ?? '',
          locality,
          decodeWorkloadMetadata(e.metadata?.filterMetadata),
          sm,
        ),
      );
    });
  });
  return hosts;
}

/** Validates a ClusterLoadAssignment (EDS) without applying it. */
export function validateAssignment(cla: ClusterLoadAssignment): void {
  if (!cla || typeof cla.clusterName !== 'string' || cla.clusterName === '')
    throw new ProxyConfigError('cluster load assignment', 'clusterName', 'must be a non-empty string');
  hostsFromAssignment(cla, `cluster load assignment "${cla.clusterName}"`, '');
}

/** A cluster's transport socket: plain TCP (undefined) or an UpstreamTlsContext, compiled. */
function compileTransportSocket(ts: TransportSocket | undefined, res: string, field: string): UpstreamTls | undefined {
  const tc = ts?.typedConfig;
  if (!tc) return undefined;
  if (tc['@type'] === TypeUrl.UpstreamTlsContext) return new UpstreamTls(tc as never, res, `${field}.typedConfig`);
  if (tc['@type'] !== TypeUrl.RawBuffer)
    throw new ProxyConfigError(res, `${field}.typedConfig.@type`, `unsupported transport socket ${JSON.stringify(tc['@type'])}`);
  return undefined;
}

/** One of Envoy's transport_socket_matches, compiled: `match` is a subset test on the endpoint's metadata. */
interface SocketMatch {
  name: string;
  match: [string, string][];
  tls: UpstreamTls | undefined;
}

/** Whether every key of `match` has the same value in the endpoint's metadata (Envoy's subset match; `{}` matches all). */
function socketMatches(m: SocketMatch, metadata: ReadonlyMap<string, string>): boolean {
  for (const [k, v] of m.match) if (metadata.get(k) !== v) return false;
  return true;
}

function compileSocketMatches(raw: Cluster['transportSocketMatches'], res: string): SocketMatch[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new ProxyConfigError(res, 'transportSocketMatches', 'must be a list');
  return raw.map((m, i) => {
    const f = `transportSocketMatches[${i}]`;
    if (!m || typeof m.name !== 'string' || m.name === '') throw new ProxyConfigError(res, `${f}.name`, 'must be a non-empty string');
    const match = m.match ?? {};
    if (typeof match !== 'object' || Array.isArray(match)) throw new ProxyConfigError(res, `${f}.match`, 'must be an object (a Struct)');
    return {
      name: m.name,
      match: Object.entries(match).map(([k, v]) => [k, JSON.stringify(v)] as [string, string]),
      tls: compileTransportSocket(m.transportSocket, res, `${f}.transportSocket`),
    };
  });
}

/** Envoy's upstream_bind_config: the source address to bind before connecting (port 0: any port). */
function compileBindConfig(b: Cluster['upstreamBindConfig'], res: string): string | undefined {
  if (b === undefined) return undefined;
  const sa = b.sourceAddress;
  if (!sa || typeof sa.address !== 'string' || !net.isIP(sa.address))
    throw new ProxyConfigError(
      res,
      'upstreamBindConfig.sourceAddress.address',
      `must be an IP address, got ${JSON.stringify(sa?.address)}`,
    );
  // A fixed source port would let only one upstream connection exist at a time; Istio always sends 0.
  if ((sa.portValue ?? 0) !== 0)
    throw new ProxyConfigError(res, 'upstreamBindConfig.sourceAddress.portValue', 'only 0 (any port) is supported');
  if (b.freebind === true)
    throw new ProxyConfigError(
      res,
      'upstreamBindConfig.freebind',
      'IP_FREEBIND is not supported; the resource is refused rather than served without it',
    );
  if ((b.extraSourceAddresses ?? []).length > 0)
    throw new ProxyConfigError(
      res,
      'upstreamBindConfig.extraSourceAddresses',
      'extra (dual-stack) source addresses are not supported; the resource is refused rather than served without them',
    );
  return sa.address;
}

export class ClusterRuntime {
  readonly name: string;
  readonly type: NonNullable<Cluster['type']>;
  readonly edsServiceName: string;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
  readonly lbPolicy: LbPolicy;
  /** The cluster's own transport socket: for endpoints no transport socket match selects. */
  readonly upstreamTls: UpstreamTls | undefined;
  private readonly socketMatches: SocketMatch[];
  /** upstream_bind_config's source address (Istio's 127.0.0.6 on inbound clusters). */
  readonly sourceAddress: string | undefined;
  /** Istio's cluster metadata: the service this cluster stands for (destination_service). */
  readonly service: { host: string; name: string; namespace: string };
  private readonly lb: LoadBalancer;
  private readonly outlier: OutlierDetector | undefined;
  private readonly keepalive: { enable: boolean; delayMs: number };
  hosts: UpstreamHost[] = [];
  /** Open upstream connections of this cluster (what max_connections bounds); see connectionOpened. */
  private activeConnections = 0;
  private dnsTimer: NodeJS.Timeout | undefined;
  private readonly dnsRefreshMs: number;
  private readonly respectDnsTtl: boolean;
  private readonly dnsFamily: 0 | 4 | 6;
  private readonly preferFamily: 0 | 4 | 6;
  private closed = false;

  constructor(
    readonly raw: Cluster,
    private readonly deps: ClusterDeps,
  ) {
    const c = raw;
    if (!c || typeof c.name !== 'string' || c.name === '') throw new ProxyConfigError('cluster', 'name', 'must be a non-empty string');
    const res = `cluster "${c.name}"`;
    this.name = c.name;
    const type = c.type ?? 'STATIC';
    if (!['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST'].includes(type))
      throw new ProxyConfigError(res, 'type', `unsupported cluster type ${JSON.stringify(type)}`);
    this.type = type;
    this.edsServiceName = c.edsClusterConfig?.serviceName || c.name;
    this.connectTimeoutMs = optionalDurationMs(c.connectTimeout, 5_000, res, 'connectTimeout');
    const lb = c.lbPolicy ?? 'ROUND_ROBIN';
    if (lb === 'CLUSTER_PROVIDED' && type === 'ORIGINAL_DST') this.lbPolicy = 'ROUND_ROBIN';
    else if (lb !== 'ROUND_ROBIN' && lb !== 'LEAST_REQUEST' && lb !== 'RANDOM')
      throw new ProxyConfigError(
        res,
        'lbPolicy',
        `unsupported load balancer ${JSON.stringify(lb)} (supported: ROUND_ROBIN, LEAST_REQUEST, RANDOM)`,
      );
    else this.lbPolicy = lb;
    this.lb = createLoadBalancer(this.lbPolicy, deps.random);
    const th = c.circuitBreakers?.thresholds?.find((t) => (t.priority ?? 'DEFAULT') === 'DEFAULT');
    const mc = th?.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (!Number.isInteger(mc) || mc < 0)
      throw new ProxyConfigError(res, 'circuitBreakers.thresholds[].maxConnections', 'must be a non-negative integer');
    this.maxConnections = mc;
    this.outlier = c.outlierDetection ? new OutlierDetector(c.outlierDetection, res, 'outlierDetection') : undefined;
    const ka = c.upstreamConnectionOptions?.tcpKeepalive;
    this.keepalive = { enable: ka !== undefined, delayMs: (ka?.keepaliveTime ?? 7200) * 1000 };
    this.upstreamTls = compileTransportSocket(c.transportSocket, res, 'transportSocket');
    this.socketMatches = compileSocketMatches(c.transportSocketMatches, res);
    this.sourceAddress = compileBindConfig(c.upstreamBindConfig, res);
    const svc = (c.metadata?.filterMetadata?.istio?.services as { host?: string; name?: string; namespace?: string }[] | undefined)?.[0];
    const hostFromName = c.name.split('|')[3] ?? c.name;
    this.service = {
      host: svc?.host ?? hostFromName,
      name: svc?.name ?? hostFromName.split('.')[0] ?? '',
      namespace: svc?.namespace ?? hostFromName.split('.')[1] ?? '',
    };
    this.dnsRefreshMs = optionalDurationMs(c.dnsRefreshRate, 5_000, res, 'dnsRefreshRate');
    this.respectDnsTtl = c.respectDnsTtl === true;
    const fam = c.dnsLookupFamily ?? 'AUTO';
    if (!['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL'].includes(fam))
      throw new ProxyConfigError(res, 'dnsLookupFamily', `unknown value ${JSON.stringify(fam)}`);
    this.dnsFamily = fam === 'V4_ONLY' ? 4 : fam === 'V6_ONLY' ? 6 : 0;
    this.preferFamily = fam === 'V4_PREFERRED' ? 4 : fam === 'AUTO' ? 6 : 0;
    if (type === 'STATIC' || type === 'STRICT_DNS' || type === 'LOGICAL_DNS') {
      if (!c.loadAssignment) throw new ProxyConfigError(res, 'loadAssignment', `is required for a ${type} cluster`);
      const hosts = hostsFromAssignment(c.loadAssignment, res, 'loadAssignment');
      if (type === 'STATIC') {
        hosts.forEach((h, i) => {
          if (!net.isIP(h.address))
            throw new ProxyConfigError(
              res,
              `loadAssignment.endpoints[].lbEndpoints[${i}].endpoint.address.socketAddress.address`,
              `"${h.address}" is not an IP address (use STRICT_DNS or LOGICAL_DNS for host names)`,
            );
        });
        this.hosts = hosts;
      }
      if (type === 'LOGICAL_DNS' && hosts.length !== 1)
        throw new ProxyConfigError(res, 'loadAssignment', 'a LOGICAL_DNS cluster has exactly one endpoint');
    } else if (type === 'EDS') {
      if (c.edsClusterConfig === undefined) throw new ProxyConfigError(res, 'edsClusterConfig', 'is required for an EDS cluster');
    }
  }

  /** Starts DNS resolution for DNS clusters (after the update was accepted). */
  start(): void {
    if (this.type === 'STRICT_DNS' || this.type === 'LOGICAL_DNS') void this.resolveNow();
  }

  private async resolveNow(): Promise<void> {
    const targets = hostsFromAssignment(this.raw.loadAssignment!, this.name, 'loadAssignment');
    let minTtl = Infinity;
    const next: UpstreamHost[] = [];
    for (const t of targets) {
      try {
        let addrs = await this.deps.resolver(t.address, this.dnsFamily);
        // Envoy's V4_PREFERRED / AUTO: the preferred family first when both are there.
        if (this.preferFamily)
          addrs = [...addrs].sort(
            (a, b) => Number(net.isIP(b.address) === this.preferFamily) - Number(net.isIP(a.address) === this.preferFamily),
          );
        const use = this.type === 'LOGICAL_DNS' ? addrs.slice(0, 1) : addrs;
        for (const a of use) {
          const prev = this.hosts.find((h) => h.address === a.address && h.port === t.port);
          next.push(prev ?? new UpstreamHost(a.address, t.port, t.weight, true, t.address, t.locality));
          if (a.ttlSeconds !== undefined) minTtl = Math.min(minTtl, a.ttlSeconds);
        }
      } catch (err) {
        // Keep the last good addresses of this name, as Envoy does when a refresh fails.
        next.push(...this.hosts.filter((h) => h.hostname === t.address));
        this.deps.log('warn', `cluster "${this.name}": DNS resolution of ${t.address} failed: ${(err as Error).message}`, {
          cluster: this.name,
        });
      }
    }
    if (this.closed) return;
    this.hosts = next;
    const delay = this.respectDnsTtl && Number.isFinite(minTtl) ? Math.max(1000, minTtl * 1000) : this.dnsRefreshMs;
    this.dnsTimer = setTimeout(() => {
      void this.resolveNow();
    }, delay);
    this.dnsTimer.unref();
  }

  /** EDS: replaces the host set, keeping per-host state (ejections, active counts) of hosts that stay. */
  setAssignment(cla: ClusterLoadAssignment): void {
    const hosts = hostsFromAssignment(cla, `cluster load assignment "${cla.clusterName}"`, '');
    // The transport socket match metadata is part of a host's identity: a pod that gains a sidecar must get mTLS.
    const id = (h: UpstreamHost): string => `${h.key}|${h.weight}|${h.healthy}|${JSON.stringify(h.socketMatch)}`;
    const old = new Map(this.hosts.map((h) => [id(h), h]));
    this.hosts = hosts.map((h) => old.get(id(h)) ?? h);
  }

  close(): void {
    this.closed = true;
    if (this.dnsTimer) clearTimeout(this.dnsTimer);
  }

  /** Chooses a host; `originalDst` is the downstream's original destination for ORIGINAL_DST clusters. */
  chooseHost(originalDst: { address: string; port: number } | undefined, exclude: UpstreamHost | undefined): UpstreamHost | undefined {
    if (this.type === 'ORIGINAL_DST') {
      if (!originalDst) return undefined;
      let h = this.hosts.find((x) => x.address === originalDst.address && x.port === originalDst.port);
      if (!h) {
        h = new UpstreamHost(originalDst.address, originalDst.port, 1, true);
        // Envoy cleans unused original-destination hosts periodically; keep the list bounded.
        if (this.hosts.length > 1024) this.hosts = this.hosts.filter((x) => x.active > 0);
        this.hosts.push(h);
      }
      return h;
    }
    const now = this.deps.now();
    const all = this.hosts.filter((h) => h.healthy);
    if (all.length === 0) return undefined;
    let usable = all.filter((h) => !h.isEjected(now) && h !== exclude);
    if (usable.length === 0 && exclude && !exclude.isEjected(now)) usable = [exclude];
    // Envoy's panic mode: when too few hosts are usable, balance across all of them.
    if (usable.length < all.length * PANIC_THRESHOLD) usable = all;
    return this.lb.choose(usable);
  }

  /** Whether the circuit breaker lets one more connection through. */
  hasCapacity(): boolean {
    return this.activeConnections < this.maxConnections;
  }

  get active(): number {
    return this.activeConnections;
  }

  /**
   * Counts a connection to `host` from the moment it is attempted (Envoy's circuit breaker counts pending
   * connections too) on the cluster and the host. Returns its release, which counts it closed once
   * however many times it is called (connect failure, close after connect, session closed meanwhile).
   */
  connectionOpened(host: UpstreamHost): () => void {
    this.activeConnections++;
    host.connectionOpened();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.activeConnections--;
      host.connectionClosed();
    };
  }

  /** After an SDS update: rebuilds the TLS contexts this cluster has used for the new secret versions now. */
  refreshTls(store: SecretStore): void {
    this.upstreamTls?.refresh(store);
    for (const m of this.socketMatches) m.tls?.refresh(store);
  }

  /**
   * The transport for one endpoint, as Envoy's transport_socket_matches: the first match whose criteria
   * are all in the endpoint's `envoy.transport_socket_match` metadata, else the cluster's transportSocket.
   * Istio's auto mTLS relies on it: `tlsMode: istio` endpoints get mTLS, the others plaintext.
   */
  transportFor(host: UpstreamHost): { name: string; tls: UpstreamTls | undefined } {
    for (const m of this.socketMatches) if (socketMatches(m, host.socketMatchValues)) return m;
    return { name: '', tls: this.upstreamTls };
  }

  /** Opens a connection to `host`; calls back exactly once. */
  connect(host: UpstreamHost, cb: (err: UpstreamFailure | undefined, conn: UpstreamConnection | undefined) => void): void {
    const t = this.transportFor(host).tls;
    // Bind the source only when its family matches the destination's (Envoy picks among source addresses by family).
    const localAddress =
      this.sourceAddress !== undefined && net.isIP(this.sourceAddress) === net.isIP(host.address) ? this.sourceAddress : undefined;
    let opts: tls.ConnectionOptions | undefined;
    if (t) {
      const o = t.connectOptions(this.deps.secrets, host.key);
      if ('unavailable' in o) {
        cb(
          { kind: 'no-secret', tls: 'secret_not_ready', reason: `upstream TLS context of cluster "${this.name}": ${o.unavailable}`, host },
          undefined,
        );
        return;
      }
      opts = o;
    }
    let done = false;
    let sock: net.Socket;
    if (opts) {
      // Node's tls.connect applies `session` twice (TLSSocket._init and connect both call setSession), and each
      // call parses the session and the peer certificate in it again: pass it once, before the handshake starts.
      // (TLSSocket.prototype.setSession is public but not in the typings; without it, fall back to the option.)
      const { session, ...rest } = opts;
      const once = session !== undefined && typeof (tls.TLSSocket.prototype as Partial<SessionSetter>).setSession === 'function';
      const ts = tls.connect({
        ...(once ? rest : opts),
        host: host.address,
        port: host.port,
        ...(localAddress ? { localAddress } : {}),
        highWaterMark: SOCKET_HIGH_WATER_MARK,
        allowHalfOpen: true,
      } as tls.ConnectionOptions);
      if (once) (ts as tls.TLSSocket & SessionSetter).setSession(session);
      sock = ts;
    } else {
      sock = net.connect({
        host: host.address,
        port: host.port,
        ...(localAddress ? { localAddress } : {}),
        highWaterMark: SOCKET_HIGH_WATER_MARK,
        noDelay: true,
        allowHalfOpen: true,
      } as net.NetConnectOpts);
    }
    const timer = setTimeout(
      () => finish({ kind: 'timeout', reason: `connect timeout after ${this.connectTimeoutMs} ms to ${host.key}`, host }),
      this.connectTimeoutMs,
    );
    const finish = (err: UpstreamFailure | undefined, verifiedPeer?: PeerIdentity): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.removeListener('error', onError);
      if (err) {
        sock.destroy();
        this.recordFailure(host);
        cb(err, undefined);
        return;
      }
      this.outlier?.onSuccess(host);
      let version = '';
      let cipher = '';
      let peer: PeerIdentity | undefined;
      let reused = false;
      if (sock instanceof tls.TLSSocket) {
        reused = sock.isSessionReused();
        version = sock.getProtocol() ?? '';
        cipher = sock.getCipher()?.standardName ?? '';
        peer = verifiedPeer;
      }
      cb(undefined, { socket: sock, host, tlsVersion: version, tlsCipher: cipher, peer, sessionReused: reused });
    };
    const onError = (e: NodeJS.ErrnoException): void => {
      const tlsStage = t !== undefined && sock.connecting === false;
      finish(
        tlsStage
          ? { kind: 'tls', tls: upstreamTlsErrorCode(e), reason: `TLS error: ${e.message}`, host }
          : { kind: 'connect', reason: `${e.code ?? 'error'}: ${e.message}`, host },
      );
    };
    sock.on('error', onError);
    if (sock instanceof tls.TLSSocket) {
      sock.setNoDelay(true);
      sock.once('secureConnect', () => {
        const check = t!.verify(sock, host.key);
        if (!check.ok) {
          t!.dropSession(host.key);
          finish({ kind: 'tls', tls: check.code, reason: check.reason, host });
          return;
        }
        finish(undefined, check.peer);
      });
      // A listener shared by every connection to this host: a closure made here would keep this whole connect
      // scope (options, callbacks, the cleared timer) alive for as long as the connection lasts.
      sock.on('session', t!.sessionSaver(host.key));
    } else {
      sock.once('connect', () => finish(undefined));
    }
    if (this.keepalive.enable) sock.setKeepAlive(true, this.keepalive.delayMs);
  }

  private recordFailure(host: UpstreamHost): void {
    if (this.outlier?.onFailure(host, this.hosts, this.deps.now())) {
      this.deps.log(
        'warn',
        `cluster "${this.name}": host ${host.key} ejected by outlier detection for ${host.ejectedUntil - this.deps.now()} ms`,
        { cluster: this.name, host: host.key },
      );
      this.deps.onEjected(this.name, host);
    }
  }
}
