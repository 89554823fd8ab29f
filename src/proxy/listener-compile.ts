// Listener compilation: an Envoy Listener message (listener.v3.Listener) validated and turned into what
// the runtime serves from: socket address, listener filters with their timeout, filter chains with their
// matchers, downstream TLS, RBAC and tcp_proxy. Any error is a ProxyConfigError naming the field (the
// whole LDS update is NACKed). Unchanged chains of the previous version are reused, so that an update
// only drains connections on chains it changed (listener-runtime.ts).
import net from 'node:net';
import type { FilterChain, Listener, NetworkRbac, TcpProxy } from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import type { AccessLogger } from './access-log.js';
import { optionalDurationMs } from './duration.js';
import { ProxyConfigError } from './errors.js';
import { chainMatchKey, compileChainMatch, needsTlsInspection, type CompiledChainMatch } from './filter-chain-match.js';
import { RbacFilter } from './rbac.js';
import { compileAccessLogs, TcpProxyFilter, type AccessLogTarget } from './tcp-proxy.js';
import { DownstreamTls } from './tls-context.js';

/** Envoy's default listener_filters_timeout. */
export const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 10_000;

export class CompiledChain {
  readonly name: string;
  readonly match: CompiledChainMatch;
  readonly tls: DownstreamTls | undefined;
  readonly rbac: RbacFilter[] = [];
  readonly tcpProxy: TcpProxyFilter;
  readonly json: string;

  constructor(
    readonly raw: FilterChain,
    res: string,
    field: string,
    handshakeTimeoutMs: number,
  ) {
    if (!raw || typeof raw !== 'object') throw new ProxyConfigError(res, field, 'must be a FilterChain object');
    this.json = JSON.stringify(raw);
    this.name = raw.name ?? '';
    this.match = compileChainMatch(raw.filterChainMatch, res, `${field}.filterChainMatch`);
    const ts = raw.transportSocket;
    if (ts) {
      const tc = ts.typedConfig;
      const hsMs = optionalDurationMs(raw.transportSocketConnectTimeout, handshakeTimeoutMs, res, `${field}.transportSocketConnectTimeout`);
      if (tc?.['@type'] === TypeUrl.DownstreamTlsContext)
        this.tls = new DownstreamTls(tc as never, res, `${field}.transportSocket.typedConfig`, hsMs);
      else if (tc && tc['@type'] !== TypeUrl.RawBuffer)
        throw new ProxyConfigError(
          res,
          `${field}.transportSocket.typedConfig.@type`,
          `unsupported transport socket ${JSON.stringify(tc['@type'])}`,
        );
    }
    if (!Array.isArray(raw.filters) || raw.filters.length === 0)
      throw new ProxyConfigError(res, `${field}.filters`, 'must be a non-empty list ending with tcp_proxy');
    let tcp: TcpProxyFilter | undefined;
    raw.filters.forEach((f, i) => {
      const ff = `${field}.filters[${i}]`;
      const type = f?.typedConfig?.['@type'];
      if (tcp) throw new ProxyConfigError(res, ff, 'tcp_proxy must be the last network filter');
      if (type === TypeUrl.TcpProxy) tcp = new TcpProxyFilter(f.typedConfig as unknown as TcpProxy, res, `${ff}.typedConfig`);
      else if (type === TypeUrl.RBAC) this.rbac.push(new RbacFilter(f.typedConfig as unknown as NetworkRbac, res, `${ff}.typedConfig`));
      else
        throw new ProxyConfigError(
          res,
          `${ff}.typedConfig.@type`,
          `unsupported network filter ${JSON.stringify(type ?? f?.name)} (supported: tcp_proxy, rbac)`,
        );
    });
    if (!tcp) throw new ProxyConfigError(res, `${field}.filters`, 'the last network filter must be envoy.filters.network.tcp_proxy');
    this.tcpProxy = tcp;
  }
}

export class CompiledListener {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly bindToPort: boolean;
  readonly useOriginalDst: boolean;
  /** Envoy's ignore_global_conn_limit: connections here neither count toward nor are refused by the global cap. */
  readonly ignoreGlobalConnLimit: boolean;
  readonly originalDstFilter: boolean;
  readonly inspectTls: boolean;
  readonly filtersTimeoutMs: number;
  readonly continueOnTimeout: boolean;
  readonly chains: CompiledChain[];
  readonly matches: CompiledChainMatch[];
  readonly defaultChain: CompiledChain | undefined;
  readonly trafficDirection: 'UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';
  readonly accessLogs: AccessLogTarget[];
  readonly json: string;
  /** Access loggers per chain, resolved on first use instead of per connection. */
  readonly loggersByChain = new Map<CompiledChain, AccessLogger[]>();

  /** `previous` lends its compiled chains where they are unchanged, so their connections keep running. */
  constructor(
    readonly raw: Listener,
    previous: CompiledListener | undefined,
  ) {
    if (!raw || typeof raw.name !== 'string' || raw.name === '')
      throw new ProxyConfigError('listener', 'name', 'must be a non-empty string');
    const res = `listener "${raw.name}"`;
    this.name = raw.name;
    this.json = JSON.stringify(raw);
    const sa = raw.address?.socketAddress;
    if (!sa || typeof sa.address !== 'string' || !net.isIP(sa.address))
      throw new ProxyConfigError(res, 'address.socketAddress.address', `must be an IP address, got ${JSON.stringify(sa?.address)}`);
    if (!Number.isInteger(sa.portValue ?? 0) || (sa.portValue ?? 0) < 0 || (sa.portValue ?? 0) > 65535)
      throw new ProxyConfigError(res, 'address.socketAddress.portValue', `must be 0..65535, got ${JSON.stringify(sa.portValue)}`);
    this.address = sa.address;
    this.port = sa.portValue ?? 0;
    this.bindToPort = raw.bindToPort !== false;
    this.useOriginalDst = raw.useOriginalDst === true;
    this.ignoreGlobalConnLimit = raw.ignoreGlobalConnLimit === true;
    this.trafficDirection = raw.trafficDirection ?? 'UNSPECIFIED';
    this.filtersTimeoutMs = optionalDurationMs(
      raw.listenerFiltersTimeout,
      DEFAULT_LISTENER_FILTERS_TIMEOUT_MS,
      res,
      'listenerFiltersTimeout',
    );
    this.continueOnTimeout = raw.continueOnListenerFiltersTimeout === true;
    let tlsInspector = false;
    let originalDst = false;
    (raw.listenerFilters ?? []).forEach((f, i) => {
      const type = f?.typedConfig?.['@type'];
      if (type === TypeUrl.TlsInspector || f?.name === 'envoy.filters.listener.tls_inspector') tlsInspector = true;
      else if (type === TypeUrl.OriginalDst || f?.name === 'envoy.filters.listener.original_dst') originalDst = true;
      else
        throw new ProxyConfigError(
          res,
          `listenerFilters[${i}]`,
          `unsupported listener filter ${JSON.stringify(type ?? f?.name)} (supported: tls_inspector, original_dst)`,
        );
    });
    this.originalDstFilter = originalDst;
    if (!Array.isArray(raw.filterChains)) throw new ProxyConfigError(res, 'filterChains', 'must be a list');
    const reuse = new Map<string, CompiledChain>();
    for (const c of [...(previous?.chains ?? []), ...(previous?.defaultChain ? [previous.defaultChain] : [])]) reuse.set(c.json, c);
    const hsMs = 10_000;
    const compileChain = (c: FilterChain, f: string): CompiledChain => reuse.get(JSON.stringify(c)) ?? new CompiledChain(c, res, f, hsMs);
    this.chains = raw.filterChains.map((c, i) => compileChain(c, `filterChains[${i}]`));
    this.matches = this.chains.map((c) => c.match);
    const seen = new Map<string, number>();
    this.matches.forEach((m, i) => {
      const k = chainMatchKey(m);
      const j = seen.get(k);
      if (j !== undefined)
        throw new ProxyConfigError(
          res,
          `filterChains[${i}].filterChainMatch`,
          `same match as filterChains[${j}] (Envoy rejects duplicate matchers)`,
        );
      seen.set(k, i);
    });
    this.defaultChain = raw.defaultFilterChain ? compileChain(raw.defaultFilterChain, 'defaultFilterChain') : undefined;
    if (this.chains.length === 0 && !this.defaultChain && !this.useOriginalDst)
      throw new ProxyConfigError(res, 'filterChains', 'a listener needs at least one filter chain or a defaultFilterChain');
    // A chain with alpnProtocols needs the client's ALPN list before the handshake (see DownstreamTls.server).
    this.inspectTls =
      tlsInspector ||
      needsTlsInspection(this.matches) ||
      [...this.chains, ...(this.defaultChain ? [this.defaultChain] : [])].some((c) => c.tls?.offersAlpn === true);
    this.accessLogs = compileAccessLogs(raw.accessLog, res, 'accessLog');
  }

  allChains(): CompiledChain[] {
    return this.defaultChain ? [...this.chains, this.defaultChain] : this.chains;
  }

  sameSocket(o: CompiledListener): boolean {
    return o.address === this.address && o.port === this.port && o.bindToPort === this.bindToPort;
  }
}
