// The listener manager (Envoy's listener_manager_impl): applies LDS updates (state of the world, one after
// another), binds new sockets before changing anything, swaps configs of listeners whose socket is unchanged,
// drains removed or replaced ones, and keeps what config_dump shows per listener (active and error state).
// Listeners that cannot bind are left out of an update that is otherwise applied (ListenersNotBoundError).
import type { Listener } from '../envoy/envoy-types.js';
import { ListenerBindError, ListenersNotBoundError, ProxyConfigError } from './errors.js';
import { CompiledListener } from './listener-compile.js';
import { ListenerRuntime, type ListenerDeps } from './listener-runtime.js';
import type { OriginalDestination } from './proxy-context.js';
import type { SecretStore } from './secrets.js';

export interface Versioned<T> {
  value: T;
  version: string;
  lastUpdated: string;
}

/** A listener of the last LDS update that could not bind (Envoy's UpdateFailureState). */
export interface ListenerError {
  failedConfiguration: Listener;
  lastUpdateAttempt: string;
  details: string;
  versionInfo: string;
}

export class ListenerManager {
  private readonly listeners = new Map<string, ListenerRuntime>();
  readonly versions = new Map<string, Versioned<Listener>>();
  readonly errors = new Map<string, ListenerError>();
  /** Set once an LDS update was applied (even with listeners that could not bind). */
  received = false;
  private serial = Promise.resolve();

  constructor(private readonly deps: ListenerDeps) {}

  /** LDS, state of the world: listeners not in `ls` are removed (their connections drain). */
  apply(ls: Listener[], version: string): Promise<void> {
    // Updates run one after another: a second LDS push waits for the first one's binds.
    const run = this.serial.then(() => this.applyNow(ls, version));
    this.serial = run.catch(() => undefined);
    return run;
  }

  private async applyNow(ls: Listener[], version: string): Promise<void> {
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
        if (c.port !== 0 && bound.has(k))
          throw new ProxyConfigError(`listener "${c.name}"`, 'address', `${k} is also the address of listener "${bound.get(k)}"`);
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
        if (cur && cur.config.sameSocket(c)) {
          updates.push([cur, c]);
          continue;
        }
        const rt = new ListenerRuntime(c, this.deps);
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
        if (old) void old.close(this.deps.drainTimeoutMs());
      }
      for (const [name, rt] of this.listeners) {
        if (!compiled.has(name)) {
          this.listeners.delete(name);
          this.versions.delete(name);
          this.deps.log('info', `listener "${name}" removed; draining ${rt.connections.size} connection(s)`);
          void rt.close(this.deps.drainTimeoutMs());
        }
      }
      const failed = new Set(failures.map((f) => f.listener));
      for (const c of compiled.values()) {
        if (failed.has(c.name)) continue;
        const prev = this.versions.get(c.name);
        if (!prev || JSON.stringify(prev.value) !== c.json) this.versions.set(c.name, { value: c.raw, version, lastUpdated: at });
      }
      // Envoy's config_dump error_state: the last failed attempt per listener, until it binds or leaves the update.
      for (const name of this.errors.keys()) if (!failed.has(name)) this.errors.delete(name);
      for (const f of failures) {
        this.errors.set(f.listener, {
          failedConfiguration: compiled.get(f.listener)!.raw,
          lastUpdateAttempt: at,
          details: f.message,
          versionInfo: version,
        });
        this.deps.stats.listenerCreateFailures.inc({ listener: f.listener, reason: f.errno });
        this.deps.log(
          'error',
          `listener "${f.listener}" failed to bind ${f.address} (${f.errno}); the other listeners of the update are applied`,
          { listener: f.listener, address: f.address, errno: f.errno },
        );
      }
      // Readiness is not held back by a listener that cannot bind: Envoy marks LDS initialized after the
      // first update whatever its per-listener errors (a bind that keeps failing would otherwise keep
      // the whole proxy out of service, including the listeners that serve).
      this.received = true;
      if (failures.length > 0) throw new ListenersNotBoundError(failures);
      this.deps.stats.configUpdates.inc({ type: 'listener', result: 'accepted' });
    } catch (err) {
      this.deps.stats.configUpdates.inc({ type: 'listener', result: 'rejected' });
      throw err;
    }
  }

  /** The listener that owns an original destination: exact address, then 0.0.0.0 / :: on that port. */
  findFor(dst: OriginalDestination): ListenerRuntime | undefined {
    let wildcard: ListenerRuntime | undefined;
    for (const l of this.listeners.values()) {
      if (l.config.port !== dst.port) continue;
      if (l.config.address === dst.address) return l;
      if (l.config.address === '0.0.0.0' || l.config.address === '::') wildcard = l;
    }
    return wildcard;
  }

  /**
   * After an SDS update: each filter chain that has served a TLS handshake builds its context for the new
   * secret versions now, as Envoy rebuilds its SSL contexts when a secret changes, so the first handshake
   * after a credential rotation does not pay for it. Chains never used stay lazy.
   */
  refreshTls(store: SecretStore): void {
    for (const l of this.listeners.values()) for (const c of l.config.allChains()) c.tls?.refresh(store);
  }

  /** The bound address of a listener (useful when the config asked for port 0). */
  address(name: string): { address: string; port: number } | undefined {
    return this.listeners.get(name)?.boundAddress();
  }

  names(): string[] {
    return [...this.listeners.keys()];
  }

  /** The listener resources in force (what config_dump shows as active). */
  running(): Listener[] {
    return [...this.versions.values()].map((v) => v.value);
  }

  /** Stops accepting on every listener; open connections run until `drainMs`. */
  async drainAll(drainMs: number): Promise<void> {
    const ls = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(ls.map((l) => l.close(drainMs)));
  }
}
