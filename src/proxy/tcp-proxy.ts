// The tcp_proxy network filter (envoy.filters.network.tcp_proxy): picks the cluster (single or
// weighted), opens the upstream connection (circuit breaker, up to max_connect_attempts hosts), then
// moves bytes both ways with backpressure, half-close in each direction, reset propagation and an idle
// timeout. Every failure is a code (failure.ts) that sets its Envoy response flag and a counter.
import net from 'node:net';
import type { AccessLog, TcpProxy } from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import { addResponseFlag, type AccessLogger } from './access-log.js';
import type { UpstreamConnection, UpstreamFailure } from './cluster.js';
import { optionalDurationMs } from './duration.js';
import { ProxyConfigError } from './errors.js';
import type { UpstreamHost } from './host.js';
import type { DownstreamConnection, ProxyContext } from './proxy-context.js';
import { responseFlagOf, type ConnectionFailureCode } from './failure.js';

export interface AccessLogTarget {
  path: string;
  format: 'text' | 'json';
}

/** Envoy FileAccessLog entries → paths and formats (json when a jsonFormat is given). */
export function compileAccessLogs(logs: AccessLog[] | undefined, res: string, field: string): AccessLogTarget[] {
  if (logs === undefined) return [];
  if (!Array.isArray(logs)) throw new ProxyConfigError(res, field, 'must be a list');
  return logs.map((l, i) => {
    const tc = l.typedConfig;
    if (!tc || tc['@type'] !== TypeUrl.FileAccessLog)
      throw new ProxyConfigError(res, `${field}[${i}].typedConfig`, `only ${TypeUrl.FileAccessLog} is supported`);
    if (typeof tc.path !== 'string' || tc.path === '')
      throw new ProxyConfigError(res, `${field}[${i}].typedConfig.path`, 'must be a file path');
    const lf = tc.logFormat as { jsonFormat?: unknown } | undefined;
    return { path: tc.path, format: lf?.jsonFormat ? ('json' as const) : ('text' as const) };
  });
}

export class TcpProxyFilter {
  readonly statPrefix: string;
  private readonly clusters: { name: string; weight: number }[];
  private readonly totalWeight: number;
  readonly idleTimeoutMs: number;
  readonly maxConnectAttempts: number;
  readonly accessLogs: AccessLogTarget[];

  constructor(cfg: TcpProxy, res: string, f: string) {
    if (typeof cfg.statPrefix !== 'string') throw new ProxyConfigError(res, `${f}.statPrefix`, 'is required');
    this.statPrefix = cfg.statPrefix;
    if (cfg.cluster !== undefined && cfg.weightedClusters !== undefined)
      throw new ProxyConfigError(res, f, 'set either cluster or weightedClusters, not both');
    if (typeof cfg.cluster === 'string' && cfg.cluster !== '') this.clusters = [{ name: cfg.cluster, weight: 1 }];
    else if (cfg.weightedClusters) {
      const cs = cfg.weightedClusters.clusters;
      if (!Array.isArray(cs) || cs.length === 0)
        throw new ProxyConfigError(res, `${f}.weightedClusters.clusters`, 'must be a non-empty list');
      cs.forEach((c, i) => {
        if (typeof c.name !== 'string' || c.name === '')
          throw new ProxyConfigError(res, `${f}.weightedClusters.clusters[${i}].name`, 'is required');
        if (!Number.isInteger(c.weight) || c.weight < 0)
          throw new ProxyConfigError(res, `${f}.weightedClusters.clusters[${i}].weight`, 'must be a non-negative integer');
      });
      this.clusters = cs.map((c) => ({ name: c.name, weight: c.weight }));
    } else throw new ProxyConfigError(res, `${f}.cluster`, 'a tcp_proxy needs cluster or weightedClusters');
    this.totalWeight = this.clusters.reduce((a, c) => a + c.weight, 0);
    if (this.totalWeight === 0) throw new ProxyConfigError(res, `${f}.weightedClusters`, 'weights sum to 0');
    // Envoy's tcp_proxy idle timeout defaults to 1 hour; "0s" disables it.
    this.idleTimeoutMs = optionalDurationMs(cfg.idleTimeout, 3_600_000, res, `${f}.idleTimeout`);
    const mca = cfg.maxConnectAttempts ?? 1;
    if (!Number.isInteger(mca) || mca < 1) throw new ProxyConfigError(res, `${f}.maxConnectAttempts`, 'must be at least 1');
    this.maxConnectAttempts = mca;
    this.accessLogs = compileAccessLogs(cfg.accessLog, res, `${f}.accessLog`);
  }

  pickCluster(random: () => number): string {
    if (this.clusters.length === 1) return this.clusters[0]!.name;
    let r = random() * this.totalWeight;
    for (const c of this.clusters) {
      r -= c.weight;
      if (r < 0) return c.name;
    }
    return this.clusters[this.clusters.length - 1]!.name;
  }

  /** Takes over a downstream connection whose transport (TLS or raw) is ready. */
  start(ctx: ProxyContext, c: DownstreamConnection, loggers: AccessLogger[]): void {
    new TcpProxySession(ctx, this, c, loggers).start();
  }
}

function resetOrDestroy(s: net.Socket): void {
  if (s.destroyed) return;
  try {
    // An RST tells the other side the connection broke, as Envoy does when its peer reset.
    s.resetAndDestroy();
  } catch {
    // TLS sockets cannot reset from JS (ERR_INVALID_HANDLE_TYPE); a plain close is the best we can do.
    s.destroy();
  }
}

/** One proxied connection. Handlers are methods bound once per session; nothing allocates per chunk. */
class TcpProxySession {
  private upstream: net.Socket | undefined;
  private host: UpstreamHost | undefined;
  private clusterName = '';
  private attempts = 0;
  private closed = false;
  private labels: Record<string, string> | undefined;
  private reportedReceived = 0;
  private reportedSent = 0;
  private downEnded = false;
  private upEnded = false;
  /** performance.now() of the last byte either way; the idle timer re-arms from it instead of being refreshed per chunk. */
  private lastActivity = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly cfg: TcpProxyFilter,
    private readonly c: DownstreamConnection,
    private readonly loggers: AccessLogger[],
  ) {
    this.onDownData = this.onDownData.bind(this);
    this.onUpData = this.onUpData.bind(this);
    this.onDownDrain = this.onDownDrain.bind(this);
    this.onIdleTimer = this.onIdleTimer.bind(this);
    this.onUpDrain = this.onUpDrain.bind(this);
  }

  start(): void {
    const d = this.c.socket;
    d.pause();
    d.on('error', (e: NodeJS.ErrnoException) => this.onDownError(e));
    d.on('close', () => this.onDownClose());
    d.on('end', () => this.onDownEnd());
    this.c.close = (reason) => this.terminate(reason);
    this.clusterName = this.cfg.pickCluster(this.ctx.random);
    this.c.si.upstreamCluster = this.clusterName;
    this.tryConnect(undefined);
  }

  private tryConnect(exclude: UpstreamHost | undefined): void {
    const si = this.c.si;
    const cluster = this.ctx.getCluster(this.clusterName);
    if (!cluster) return this.fail('no_cluster', `no cluster "${this.clusterName}"`);
    if (!cluster.hasCapacity()) {
      this.ctx.stats.upstreamOverflow.inc({ cluster: cluster.name });
      return this.fail('upstream_overflow', `circuit breaker: cluster "${cluster.name}" is at max_connections ${cluster.maxConnections}`);
    }
    const host = cluster.chooseHost(this.c.originalDst, exclude);
    if (!host) return this.fail('no_healthy_upstream', `no healthy upstream in cluster "${cluster.name}"`);
    this.attempts++;
    const release = cluster.connectionOpened(host);
    si.upstreamHost = host.key;
    cluster.connect(host, (err, conn) => {
      if (err || !conn) {
        release();
        this.onConnectFailed(err!, cluster.name);
        return;
      }
      if (this.closed) {
        release();
        conn.socket.destroy();
        return;
      }
      this.onConnected(conn, release);
    });
  }

  private onConnectFailed(err: UpstreamFailure, cluster: string): void {
    const si = this.c.si;
    this.ctx.stats.upstreamConnectFailures.inc({ cluster, reason: err.kind });
    if (err.tls) this.ctx.stats.handshakeFailures.inc({ side: 'upstream', name: cluster, reason: err.tls });
    si.upstreamTransportFailureReason = err.reason;
    this.ctx.log('warn', `upstream connect to ${err.host.key} (cluster "${cluster}") failed: ${err.reason}`, {
      cluster,
      host: err.host.key,
      kind: err.kind,
    });
    if (this.closed) return;
    if (this.attempts < this.cfg.maxConnectAttempts && err.kind !== 'no-secret') {
      this.tryConnect(err.host);
      return;
    }
    if (this.cfg.maxConnectAttempts > 1) addResponseFlag(si, responseFlagOf('upstream_retry_limit_exceeded'));
    this.fail('upstream_connect_failed', `upstream connect failure: ${err.reason}`);
  }

  private fail(code: ConnectionFailureCode, details: string): void {
    const si = this.c.si;
    const flag = responseFlagOf(code);
    addResponseFlag(si, flag);
    if (!si.connectionTerminationDetails) si.connectionTerminationDetails = details;
    // A connect failure was logged with its host by onConnectFailed.
    if (code !== 'upstream_connect_failed') this.ctx.log('warn', `listener "${si.listener}": ${details}`, { listener: si.listener, flag });
    this.report();
    this.c.socket.destroy();
  }

  private onConnected(conn: UpstreamConnection, release: () => void): void {
    const si = this.c.si;
    const u = conn.socket;
    this.upstream = u;
    this.host = conn.host;
    si.upstreamHost = conn.host.key;
    si.upstreamLocalAddress = `${u.localAddress ?? ''}:${u.localPort ?? ''}`;
    si.upstreamTlsVersion = conn.tlsVersion;
    si.upstreamTlsCipher = conn.tlsCipher;
    si.upstreamPeerPrincipal = conn.peer?.principal ?? '';
    si.upstreamTlsSessionReused = conn.sessionReused;
    u.on('error', (e: NodeJS.ErrnoException) => this.onUpError(e));
    u.on('close', () => {
      release();
      this.onUpClose();
    });
    u.on('end', () => this.onUpEnd());
    u.on('data', this.onUpData);
    u.on('drain', this.onUpDrain);
    const d = this.c.socket;
    d.on('data', this.onDownData);
    d.on('drain', this.onDownDrain);
    if (this.cfg.idleTimeoutMs > 0) {
      // One timer per session, not socket.setTimeout on both sockets: Node refreshes a socket's timer on every
      // read and write (a timer-list insert per chunk per socket); here a chunk only records the time.
      this.lastActivity = performance.now();
      this.idleTimer = setTimeout(this.onIdleTimer, this.cfg.idleTimeoutMs);
    }
    this.ctx.registerSession(this);
    this.report();
    if (this.downEnded) u.end();
    d.resume();
  }

  private onDownData(chunk: Buffer): void {
    this.c.si.bytesReceived += chunk.length;
    this.lastActivity = performance.now();
    if (!this.upstream!.write(chunk)) this.c.socket.pause();
  }

  private onUpData(chunk: Buffer): void {
    this.c.si.bytesSent += chunk.length;
    this.lastActivity = performance.now();
    if (!this.c.socket.write(chunk)) this.upstream!.pause();
  }

  private onUpDrain(): void {
    if (!this.downEnded) this.c.socket.resume();
  }

  private onDownDrain(): void {
    if (!this.upEnded) this.upstream!.resume();
  }

  /** Envoy's idle_timeout: no bytes either way for the whole period closes both sides. */
  private onIdleTimer(): void {
    const left = this.lastActivity + this.cfg.idleTimeoutMs - performance.now();
    if (left > 1) this.idleTimer = setTimeout(this.onIdleTimer, left);
    else {
      this.idleTimer = undefined;
      this.terminate('idle_timeout');
    }
  }

  private onDownEnd(): void {
    this.downEnded = true;
    // Half-close: the client finished sending; pass the FIN on once everything before it was written.
    this.upstream?.end();
  }

  private onUpEnd(): void {
    this.upEnded = true;
    this.c.socket.end();
  }

  private onDownError(e: NodeJS.ErrnoException): void {
    const si = this.c.si;
    if (!si.connectionTerminationDetails) si.connectionTerminationDetails = `downstream ${e.code ?? 'error'}: ${e.message}`;
    addResponseFlag(si, responseFlagOf('downstream_connection_termination'));
    if (this.upstream) resetOrDestroy(this.upstream);
  }

  private onUpError(e: NodeJS.ErrnoException): void {
    const si = this.c.si;
    if (!si.connectionTerminationDetails) si.connectionTerminationDetails = `upstream ${e.code ?? 'error'}: ${e.message}`;
    addResponseFlag(si, responseFlagOf('upstream_connection_termination'));
    resetOrDestroy(this.c.socket);
  }

  private onDownClose(): void {
    const u = this.upstream;
    // Envoy closes the upstream with FlushWrite: what the client sent is delivered, then the socket closes.
    if (u && !u.destroyed) u.destroySoon();
    this.finish();
  }

  private onUpClose(): void {
    const d = this.c.socket;
    if (!d.destroyed) d.destroySoon();
  }

  /** Closes both sides (drain timeout, idle timeout, proxy shutdown). */
  private terminate(reason: string): void {
    const si = this.c.si;
    if (!si.connectionTerminationDetails) si.connectionTerminationDetails = reason;
    this.upstream?.destroy();
    this.c.socket.destroy();
  }

  /** Bytes this session holds in user-space write buffers (bounded by backpressure). */
  buffered(): number {
    return this.c.socket.writableLength + (this.upstream?.writableLength ?? 0);
  }

  /** Adds byte counts and the open event to Istio's metrics; called at open, periodically and at close. */
  report(): void {
    const si = this.c.si;
    const stats = this.ctx.stats;
    if (!this.labels) {
      this.labels = this.ctx.istioLabels(this.c, this.host);
      stats.tcpOpened.inc(this.labels);
    }
    const r = si.bytesReceived - this.reportedReceived;
    const s = si.bytesSent - this.reportedSent;
    if (r > 0) stats.tcpReceived.inc(this.labels, r);
    if (s > 0) stats.tcpSent.inc(this.labels, s);
    this.reportedReceived = si.bytesReceived;
    this.reportedSent = si.bytesSent;
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.ctx.unregisterSession(this);
    this.report();
    this.ctx.stats.tcpClosed.inc(this.labels!);
    this.ctx.connectionClosed(this.c, this.loggers);
  }
}
