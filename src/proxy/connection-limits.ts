// Downstream connection limits, as Envoy has them: a global cap over all listeners (Envoy's overload
// manager resource monitor `envoy.resource_monitors.global_downstream_max_connections`, refusals counted
// per listener as `downstream_global_cx_overflow`) and a cap per listener (Envoy's runtime key
// `envoy.resource_limits.listener.<listener name>.connection_limit`, refusals counted as
// `downstream_cx_overflow`). A connection over a limit is closed the moment it is accepted — no listener
// filter, no TLS handshake, no access log line — and logged at most once a second per listener with the
// number of refusals the quiet second held. Limits only gate new connections: reaching or lowering one
// never closes a connection already open.
import { readFileSync } from 'node:fs';
import type { LogFn } from './proxy-context.js';
import type { ProxyStats } from './stats.js';

export interface ConnectionLimitSettings {
  /** The global cap over every listener that does not set `ignoreGlobalConnLimit`; default: see defaultGlobalDownstreamMaxConnections. */
  globalDownstreamMaxConnections?: number;
  /** Caps per listener name (no entry: no per-listener cap, as in Envoy). */
  listeners?: Record<string, number>;
}

/** Envoy's runtime key for a listener's cap; admin's /runtime_modify takes it. */
export const LISTENER_LIMIT_KEY = /^envoy\.resource_limits\.listener\.(.+)\.connection_limit$/;

/** The default global cap when none is configured: Envoy's recommended edge value. */
export const DEFAULT_GLOBAL_DOWNSTREAM_MAX_CONNECTIONS = 50_000;
/** Descriptors kept for what is not a proxied connection: listeners, admin, xDS, DNS, log files. */
const RESERVED_DESCRIPTORS = 256;

/**
 * The default global cap: 50,000 (Envoy's recommended `global_downstream_max_connections` for an edge
 * proxy; at the ~55 kB per idle proxied connection the benchmark measures, about 2.7 GB), lowered to what
 * the descriptor limit can carry — each proxied connection holds two (downstream and upstream), after a
 * reserve — so the proxy refuses cleanly instead of failing accept() and connect() with EMFILE.
 * `limitsFile` is Linux's /proc/self/limits (Node has already raised the soft limit to the hard one).
 */
export function defaultGlobalDownstreamMaxConnections(limitsFile = '/proc/self/limits'): number {
  let soft = Infinity;
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(limitsFile, 'utf8'));
    if (m && m[1] !== 'unlimited') soft = Number(m[1]);
  } catch {
    // Not Linux (no /proc): the fixed default applies.
  }
  const byDescriptors = Math.max(64, Math.floor((soft - RESERVED_DESCRIPTORS) / 2));
  return Math.min(DEFAULT_GLOBAL_DOWNSTREAM_MAX_CONNECTIONS, byDescriptors);
}

/** Validates settings (bootstrap, CLI); returns a message naming the bad field under `at`, or undefined. */
export function connectionLimitSettingsError(s: unknown, at = 'connectionLimits'): string | undefined {
  if (s === undefined) return undefined;
  if (!s || typeof s !== 'object' || Array.isArray(s)) return `${at}: must be an object ({ globalDownstreamMaxConnections?, listeners? })`;
  const o = s as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'globalDownstreamMaxConnections' && k !== 'listeners')
      return `${at}.${k}: unknown field (known: globalDownstreamMaxConnections, listeners)`;
  const count = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (o.globalDownstreamMaxConnections !== undefined && !count(o.globalDownstreamMaxConnections))
    return `${at}.globalDownstreamMaxConnections: must be a non-negative integer`;
  if (o.listeners !== undefined) {
    if (!o.listeners || typeof o.listeners !== 'object' || Array.isArray(o.listeners))
      return `${at}.listeners: must map listener names to connection counts`;
    for (const [n, v] of Object.entries(o.listeners)) if (!count(v)) return `${at}.listeners.${n}: must be a non-negative integer`;
  }
  return undefined;
}

/** Envoy's older runtime key for the global cap (superseded by the resource monitor, still understood here). */
export const GLOBAL_LIMIT_KEY = 'overload.global_downstream_max_connections';

/**
 * Envoy's POST /runtime_modify for the connection caps: `envoy.resource_limits.listener.<name>.connection_limit=N`
 * (an empty value removes the listener's cap) and `overload.global_downstream_max_connections=N`. All pairs are
 * checked before any applies. Returns an error message, or undefined when applied.
 */
export function applyRuntimeOverrides(limits: ConnectionLimits, pairs: [string, string][]): string | undefined {
  const changes: (() => void)[] = [];
  for (const [k, v] of pairs) {
    const n = v === '' ? undefined : Number(v);
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) return `${k}: "${v}" is not a non-negative integer`;
    const m = LISTENER_LIMIT_KEY.exec(k);
    if (m) {
      changes.push(() => limits.setListenerLimit(m[1]!, n));
      continue;
    }
    if (k === GLOBAL_LIMIT_KEY) {
      if (n === undefined) return `${k}: the global limit cannot be removed, only changed`;
      changes.push(() => limits.update({ globalDownstreamMaxConnections: n }));
      continue;
    }
    return `${k}: unknown runtime key (supported: envoy.resource_limits.listener.<listener name>.connection_limit, ${GLOBAL_LIMIT_KEY})`;
  }
  for (const c of changes) c();
  return undefined;
}

export type Overflow = 'global' | 'listener';

interface RefusalLog {
  lastAt: number;
  suppressed: number;
  timer: NodeJS.Timeout | undefined;
  last: string;
}

export class ConnectionLimits {
  /** Downstream connections open now on listeners that count toward the global cap. */
  active = 0;
  private global: number;
  private perListener: Map<string, number>;
  private readonly logs = new Map<string, RefusalLog>();

  constructor(
    settings: ConnectionLimitSettings,
    private readonly stats: ProxyStats,
    private readonly log: LogFn,
    private readonly now: () => number,
  ) {
    this.global = settings.globalDownstreamMaxConnections ?? defaultGlobalDownstreamMaxConnections();
    this.perListener = new Map(Object.entries(settings.listeners ?? {}));
    stats.observeGlobalConnections(() => ({ active: this.active, limit: this.global }));
  }

  /** Replaces the limits for new connections; open connections are never closed by a change. */
  update(settings: ConnectionLimitSettings): void {
    if (settings.globalDownstreamMaxConnections !== undefined) this.global = settings.globalDownstreamMaxConnections;
    if (settings.listeners) for (const [n, v] of Object.entries(settings.listeners)) this.perListener.set(n, v);
  }

  /** Sets or (with undefined) removes one listener's cap, as Envoy's runtime key does. */
  setListenerLimit(listener: string, limit: number | undefined): void {
    if (limit === undefined) this.perListener.delete(listener);
    else this.perListener.set(listener, limit);
  }

  settings(): Required<ConnectionLimitSettings> {
    return { globalDownstreamMaxConnections: this.global, listeners: Object.fromEntries(this.perListener) };
  }

  globalFull(): boolean {
    return this.active >= this.global;
  }

  listenerFull(listener: string, open: number): boolean {
    const l = this.perListener.get(listener);
    return l !== undefined && open >= l;
  }

  /** Counts a refusal and logs it, at most one line per listener per second. */
  refused(listener: string, kind: Overflow, remote: string): void {
    if (kind === 'global') this.stats.globalConnectionOverflow.inc({ listener });
    else this.stats.listenerConnectionOverflow.inc({ listener });
    this.stats.downstreamRefused.inc({ listener, reason: kind === 'global' ? 'global_connection_limit' : 'listener_connection_limit' });
    const what =
      kind === 'global'
        ? `global downstream connection limit (${this.global}) reached`
        : `listener connection limit (${this.perListener.get(listener) ?? '?'}) reached`;
    const now = this.now();
    let r = this.logs.get(listener);
    if (!r) {
      r = { lastAt: -Infinity, suppressed: 0, timer: undefined, last: what };
      this.logs.set(listener, r);
    }
    r.last = what;
    if (now - r.lastAt >= 1000) {
      this.emit(listener, r, `connection from ${remote} refused: ${what}`);
      return;
    }
    r.suppressed++;
    if (!r.timer) {
      // The count of a burst is reported when its second is over, even if no refusal follows.
      r.timer = setTimeout(
        () => {
          r.timer = undefined;
          if (r.suppressed > 0) this.emit(listener, r, r.last);
        },
        Math.max(0, r.lastAt + 1000 - now),
      );
      r.timer.unref();
    }
  }

  private emit(listener: string, r: RefusalLog, text: string): void {
    const more = r.suppressed > 0 ? ` (${r.suppressed} more refused since the last line)` : '';
    this.log('warn', `listener "${listener}": ${text}${more}`, { listener, reason: 'connection_limit', suppressed: r.suppressed });
    r.lastAt = this.now();
    r.suppressed = 0;
  }

  close(): void {
    for (const r of this.logs.values()) if (r.timer) clearTimeout(r.timer);
  }
}
