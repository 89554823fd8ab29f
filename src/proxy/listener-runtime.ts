// A listener at run time: binds its address (unless `bindToPort: false`, Istio's virtual listeners that
// only receive connections handed over by the `useOriginalDst` listener on 15001/15006), runs the
// listener filters (tls_inspector, original_dst) with their timeout, picks a filter chain, terminates
// TLS when the chain has a DownstreamTlsContext, runs RBAC and hands the connection to tcp_proxy.
// Updates swap the compiled config (listener-compile.ts) for new connections; connections on chains the
// update changed or removed are drained (closed after the drain timeout), the others keep running untouched.
import net from 'node:net';
import type tls from 'node:tls';
import { addResponseFlag, newStreamInfo, type AccessLogger } from './access-log.js';
import { SOCKET_HIGH_WATER_MARK } from './cluster.js';
import { ListenerBindError } from './errors.js';
import { selectFilterChain, type ConnectionFacts } from './filter-chain-match.js';
import type { CompiledChain, CompiledListener } from './listener-compile.js';
import type { DownstreamConnection, OriginalDestination, ProxyContext } from './proxy-context.js';
import { downstreamTlsFailure, responseFlagOf, type ConnectionFailureCode, type TlsFailure } from './failure.js';
import type { ConnectionLimits, Overflow } from './connection-limits.js';
import { inspectClientHello, type InspectResult } from './tls-inspector.js';

const EMPTY = Buffer.alloc(0);

export interface ListenerDeps extends ProxyContext {
  originalDestination(sock: net.Socket): OriginalDestination | undefined;
  /** The listener that owns an original destination (exact address, then 0.0.0.0 / :: on that port). */
  findListenerFor(dst: OriginalDestination, from: ListenerRuntime): ListenerRuntime | undefined;
  drainTimeoutMs(): number;
  readonly limits: ConnectionLimits;
}

/** Maps the TLS socket a tls.Server created back to the connection (tls.Server does not return it). */
const pendingTls = new WeakMap<
  net.Socket,
  { listener: ListenerRuntime; conn: DownstreamConnection; chain: CompiledChain; loggers: AccessLogger[] }
>();
const serversWithHandlers = new WeakSet<tls.Server>();

function rawOf(t: tls.TLSSocket): net.Socket | undefined {
  // TLSSocket keeps the socket it wraps in `_parent` (lib/_tls_wrap.js); it is how we find our context.
  return (t as unknown as { _parent?: net.Socket })._parent;
}

function onSecureConnection(t: tls.TLSSocket): void {
  const raw = rawOf(t);
  const p = raw && pendingTls.get(raw);
  if (!p) {
    t.destroy();
    return;
  }
  pendingTls.delete(raw!);
  p.listener.onHandshake(p, t, undefined);
}

function onTlsClientError(err: Error & { code?: string; reason?: string }, t: tls.TLSSocket): void {
  const raw = rawOf(t);
  const p = raw && pendingTls.get(raw);
  if (!p) {
    t.destroy();
    return;
  }
  pendingTls.delete(raw!);
  p.listener.onHandshake(p, t, err);
}

/**
 * tls.Server builds its TLSSocket without a highWaterMark (Node 20's tlsConnectionListener passes none), so
 * the cleartext side of every downstream TLS connection has 16 KiB buffers whatever the raw socket has: each
 * 16 KiB record written to it returns false, pauses the upstream and goes out in its own write(2). Raising
 * the limits once the handshake is done lets writes queue and leave in batches, as on the other sockets.
 * The stream states are Node internals; when they are not there the socket keeps Node's default.
 */
function raiseHighWaterMark(t: tls.TLSSocket, hwm: number): void {
  const states = t as unknown as { _readableState?: { highWaterMark?: unknown }; _writableState?: { highWaterMark?: unknown } };
  for (const st of [states._readableState, states._writableState]) {
    if (st && typeof st.highWaterMark === 'number' && st.highWaterMark < hwm) st.highWaterMark = hwm;
  }
}

export class ListenerRuntime {
  private server: net.Server | undefined;
  readonly connections = new Set<DownstreamConnection>();
  private draining = false;

  constructor(
    public config: CompiledListener,
    private readonly deps: ListenerDeps,
  ) {}

  get name(): string {
    return this.config.name;
  }

  /** The bound address (port resolved when the config asked for port 0). */
  boundAddress(): { address: string; port: number } | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { address: a.address, port: a.port } : undefined;
  }

  bind(): Promise<void> {
    if (!this.config.bindToPort) return Promise.resolve();
    const server = net.createServer({ allowHalfOpen: true, highWaterMark: SOCKET_HIGH_WATER_MARK, noDelay: true } as net.ServerOpts, (s) =>
      this.onAccept(s),
    );
    this.server = server;
    return new Promise((resolve, reject) => {
      const onErr = (e: Error): void => reject(new ListenerBindError(this.config.name, `${this.config.address}:${this.config.port}`, e));
      server.once('error', onErr);
      server.listen({ host: this.config.address, port: this.config.port, backlog: 1024 }, () => {
        server.removeListener('error', onErr);
        server.on('error', (e) => this.deps.log('error', `listener "${this.name}": ${e.message}`));
        resolve();
      });
    });
  }

  /** Takes a new config for new connections; drains connections whose chain the update changed or removed. */
  update(next: CompiledListener): void {
    this.config = next;
    const keep = new Set<object>(next.allChains());
    for (const c of this.connections) if (!keep.has(c.chainToken)) this.drain(c);
  }

  private drain(c: DownstreamConnection): void {
    const t = setTimeout(() => c.close?.('listener_drained'), this.deps.drainTimeoutMs());
    t.unref();
    c.raw.once('close', () => clearTimeout(t));
  }

  /** Stops accepting; open connections may run until `drainMs`, then are closed. Resolves when all are gone. */
  async close(drainMs: number): Promise<void> {
    this.draining = true;
    const s = this.server;
    this.server = undefined;
    // Stop accepting now; the server's own close callback would wait for every connection, which is
    // what the drain below bounds, so it is not awaited.
    s?.close();
    if (this.connections.size === 0) return;
    await new Promise<void>((resolve) => {
      const closeAll = (): void => {
        for (const c of this.connections)
          (
            c.close ??
            ((): void => {
              c.raw.destroy();
            })
          )('listener_drained');
      };
      const timer = setTimeout(closeAll, drainMs);
      const check = setInterval(() => {
        if (this.connections.size === 0) {
          clearInterval(check);
          clearTimeout(timer);
          resolve();
        }
      }, 20);
    });
  }

  private onAccept(raw: net.Socket): void {
    const cfg = this.config;
    // The global cap is checked first and on the listener that accepted, as Envoy's listener does.
    const countsGlobal = !cfg.ignoreGlobalConnLimit;
    if (countsGlobal && this.deps.limits.globalFull()) {
      this.overflow(raw, 'global');
      return;
    }
    let dst: OriginalDestination = { address: raw.localAddress ?? '', port: raw.localPort ?? 0 };
    if (cfg.useOriginalDst || cfg.originalDstFilter) dst = this.deps.originalDestination(raw) ?? dst;
    if (cfg.useOriginalDst) {
      const target = this.deps.findListenerFor(dst, this);
      if (target && target !== this) {
        target.accept(raw, dst, countsGlobal);
        return;
      }
    }
    this.accept(raw, dst, countsGlobal);
  }

  /** Refuses a connection over a limit: closed before any listener filter or TLS work, never access-logged. */
  private overflow(raw: net.Socket, kind: Overflow): void {
    const remote = `${raw.remoteAddress ?? ''}:${raw.remotePort ?? ''}`;
    raw.on('error', () => {
      /* the socket is being closed; a reset from the client changes nothing */
    });
    raw.destroy();
    this.deps.limits.refused(this.config.name, kind, remote);
  }

  /** Serves a connection accepted here or handed over by a `useOriginalDst` listener. */
  accept(raw: net.Socket, dst: OriginalDestination, countsGlobal: boolean): void {
    const cfg = this.config;
    if (this.draining) {
      raw.destroy();
      return;
    }
    const limits = this.deps.limits;
    if (limits.listenerFull(cfg.name, this.connections.size)) {
      this.overflow(raw, 'listener');
      return;
    }
    const remote = `${raw.remoteAddress ?? ''}:${raw.remotePort ?? ''}`;
    const si = newStreamInfo(cfg.name, remote, `${dst.address}:${dst.port}`);
    const conn: DownstreamConnection = {
      raw,
      socket: raw,
      si,
      originalDst: dst,
      trafficDirection: cfg.trafficDirection,
      downstreamPeer: undefined,
      chainToken: this,
    };
    this.connections.add(conn);
    if (countsGlobal) limits.active++;
    const gauge = this.deps.stats.activeConnections;
    gauge.inc({ listener: cfg.name });
    raw.once('close', () => {
      this.connections.delete(conn);
      gauge.dec({ listener: cfg.name });
      if (countsGlobal) limits.active--;
    });
    // Errors before a network filter takes over (client reset during TLS sniffing) end here.
    const early = (e: Error): void => {
      if (!si.connectionTerminationDetails) si.connectionTerminationDetails = `downstream error before proxying: ${e.message}`;
    };
    raw.on('error', early);
    conn.close = () => raw.destroy();
    if (!cfg.inspectTls) {
      this.dispatch(cfg, conn, { kind: 'raw' });
      return;
    }
    this.inspect(cfg, conn);
  }

  private inspect(cfg: CompiledListener, conn: DownstreamConnection): void {
    const raw = conn.raw;
    let buf: Buffer = EMPTY;
    let done = false;
    const finish = (r: InspectResult | 'timeout' | 'closed'): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      raw.removeListener('data', onData);
      raw.removeListener('end', onEnd);
      // Nothing here may outlive the inspection: a 'close' listener would keep this closure, and with it the
      // ClientHello buffer, alive as long as the connection (about 2 kB per idle TLS connection).
      raw.removeListener('close', onClose);
      if (r === 'closed') {
        conn.si.connectionTerminationDetails = 'downstream closed before the listener filters completed';
        raw.destroy();
        this.closedEarly(conn);
        return;
      }
      raw.pause();
      if (buf.length > 0) raw.unshift(buf);
      buf = EMPTY;
      if (r === 'timeout') {
        if (!cfg.continueOnTimeout) {
          this.refuse(cfg, conn, 'listener_filters_timeout', `no data within the listener filter timeout (${cfg.filtersTimeoutMs} ms)`);
          return;
        }
        this.dispatch(cfg, conn, { kind: 'raw' });
        return;
      }
      if (r.kind === 'too-large') {
        this.refuse(cfg, conn, 'client_hello_too_large', 'TLS ClientHello larger than 64 KiB');
        return;
      }
      this.dispatch(cfg, conn, r);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = inspectClientHello(buf);
      if (r.kind !== 'need-more') finish(r);
    };
    // The peer closed its side before the listener filters could decide: Envoy closes the connection.
    const onEnd = (): void => finish('closed');
    const onClose = (): void => finish('closed');
    const timer = setTimeout(() => finish('timeout'), cfg.filtersTimeoutMs);
    raw.on('data', onData);
    raw.on('end', onEnd);
    raw.once('close', onClose);
  }

  private dispatch(cfg: CompiledListener, conn: DownstreamConnection, r: InspectResult): void {
    const raw = conn.raw;
    const si = conn.si;
    const facts: ConnectionFacts = {
      destinationIp: conn.originalDst.address,
      destinationPort: conn.originalDst.port,
      sourceIp: raw.remoteAddress ?? '',
      sourcePort: raw.remotePort ?? 0,
      directSourceIp: raw.remoteAddress ?? '',
      serverName: r.kind === 'tls' ? r.serverName : '',
      transportProtocol: r.kind === 'tls' ? 'tls' : 'raw_buffer',
      applicationProtocols: r.kind === 'tls' ? r.alpn : [],
    };
    si.requestedServerName = facts.serverName;
    const i = selectFilterChain(cfg.matches, facts);
    const chain = i >= 0 ? cfg.chains[i]! : cfg.defaultChain;
    if (!chain) {
      const what =
        facts.transportProtocol === 'tls'
          ? `TLS, SNI "${facts.serverName || '(none)'}", ALPN [${facts.applicationProtocols.join(',')}]`
          : 'plaintext (not TLS)';
      this.refuse(
        cfg,
        conn,
        'no_matching_filter_chain',
        `no filter chain matches ${what} to ${facts.destinationIp}:${facts.destinationPort}`,
      );
      return;
    }
    si.filterChain = chain.name;
    conn.chainToken = chain;
    let loggers = cfg.loggersByChain.get(chain);
    if (!loggers) {
      loggers = this.deps.accessLoggers([...cfg.accessLogs, ...chain.tcpProxy.accessLogs]);
      cfg.loggersByChain.set(chain, loggers);
    }
    if (!chain.tls) {
      this.serve(cfg, conn, chain, loggers);
      return;
    }
    if (chain.tls.requireSni && facts.serverName === '') {
      this.refuse(cfg, conn, 'sni_required', 'the filter chain requires SNI and the client sent none');
      return;
    }
    const srv = chain.tls.server(this.deps.secrets, r.kind === 'tls' ? r.alpn : undefined);
    if ('unavailable' in srv) {
      this.refuse(
        cfg,
        conn,
        'secret_not_ready',
        `filter chain "${chain.name}": ${srv.unavailable}; refusing instead of serving without TLS`,
      );
      return;
    }
    if (!serversWithHandlers.has(srv.server)) {
      serversWithHandlers.add(srv.server);
      srv.server.on('secureConnection', onSecureConnection);
      srv.server.on('tlsClientError', onTlsClientError);
    }
    pendingTls.set(raw, { listener: this, conn, chain, loggers });
    srv.server.emit('connection', raw);
  }

  /** Called when the TLS handshake of a connection ends, with an error or with the peer to check. */
  onHandshake(
    p: { conn: DownstreamConnection; chain: CompiledChain; loggers: AccessLogger[] },
    t: tls.TLSSocket,
    err: (Error & { code?: string; reason?: string }) | undefined,
  ): void {
    const { conn, chain } = p;
    const cfg = this.config;
    conn.socket = t;
    raiseHighWaterMark(t, SOCKET_HIGH_WATER_MARK);
    t.on('error', () => {
      /* reported on the raw socket or by the network filter; never crash on a late TLS error */
    });
    if (err) {
      this.handshakeFailed(cfg, conn, downstreamTlsFailure(err));
      return;
    }
    const check = chain.tls!.verify(t);
    conn.downstreamPeer = check.peer;
    conn.si.downstreamTlsVersion = t.getProtocol() ?? '';
    conn.si.downstreamTlsCipher = t.getCipher()?.standardName ?? '';
    conn.si.downstreamPeerPrincipal = check.peer?.principal ?? '';
    conn.si.downstreamPeerSerial = check.peer?.serial ?? '';
    if (!check.ok) {
      this.handshakeFailed(cfg, conn, check);
      return;
    }
    this.serve(cfg, conn, chain, p.loggers);
  }

  private handshakeFailed(cfg: CompiledListener, conn: DownstreamConnection, f: TlsFailure): void {
    this.deps.stats.handshakeFailures.inc({ side: 'downstream', name: cfg.name, reason: f.code });
    conn.si.downstreamTransportFailureReason = f.reason;
    this.refuse(cfg, conn, 'tls_handshake_failed', f.reason);
  }

  private serve(cfg: CompiledListener, conn: DownstreamConnection, chain: CompiledChain, loggers: AccessLogger[]): void {
    const raw = conn.raw;
    for (const r of chain.rbac) {
      const denied = r.check({
        principal: conn.downstreamPeer?.principal ?? '',
        authenticated: conn.downstreamPeer !== undefined,
        remoteIp: raw.remoteAddress ?? '',
        directRemoteIp: raw.remoteAddress ?? '',
        destinationIp: conn.originalDst.address,
        destinationPort: conn.originalDst.port,
      });
      if (denied) {
        this.refuse(cfg, conn, 'rbac_denied', denied, loggers);
        return;
      }
    }
    chain.tcpProxy.start(this.deps, conn, loggers);
  }

  private refuse(
    cfg: CompiledListener,
    conn: DownstreamConnection,
    reason: ConnectionFailureCode,
    details: string,
    loggers?: AccessLogger[],
  ): void {
    const si = conn.si;
    const flag = responseFlagOf(reason);
    if (flag) addResponseFlag(si, flag);
    si.connectionTerminationDetails = details;
    this.deps.stats.downstreamRefused.inc({ listener: cfg.name, reason });
    this.deps.log('warn', `listener "${cfg.name}": connection from ${si.downstreamRemoteAddress} refused: ${details}`, {
      listener: cfg.name,
      reason,
      remote: si.downstreamRemoteAddress,
    });
    const all = loggers ?? this.deps.accessLoggers(cfg.accessLogs);
    const done = (): void => this.deps.connectionClosed(conn, all);
    if (conn.raw.destroyed) done();
    else conn.raw.once('close', done);
    conn.socket.destroy();
    conn.raw.destroy();
  }

  private closedEarly(conn: DownstreamConnection): void {
    this.deps.log('debug', `listener "${this.name}": ${conn.si.downstreamRemoteAddress} closed before sending anything`);
  }
}
