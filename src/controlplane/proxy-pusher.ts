// Istio's push path: for every connected proxy, the model turns the config snapshot into that proxy's
// resources, the snapshot cache checks and stores them, and the ADS server pushes whatever changed.
// A new proxy gets its snapshot synchronously when it connects; config changes are debounced (istiod's
// PILOT_DEBOUNCE_AFTER, 100 ms) and then every proxy is regenerated — pushes stay scoped because a proxy
// whose generated resources did not change gets no new version. Proxies of the same shape (the model's
// proxyShapeKey: role, namespace, labels, ...) share one generated snapshot per config version, so a
// fleet of identical sidecars costs one generation, one consistency check and one encoding.
// A change made of Secrets alone (a gateway credential rotated) is first pushed at once to the gateways
// that hold one of those credentials — as istiod's SDS push goes only to the proxies watching the secret —
// and then the debounced push follows as for any change, so nothing else can be missed (a gateway that
// was waiting for a credential that did not exist yet gets it there). A burst of Secret changes gets one
// immediate push per debounce window, then waits for the debounce.
// State is per stream (the ADS server's connection id, which is also the snapshot's key in the cache),
// as istiod keeps one Proxy per connection: a proxy that reconnects with new labels while its old
// stream lingers gets config for the new labels, and the old stream keeps its own until it closes.
import type { ConfigSnapshot } from '../config/types.js';
import { generateProxyResources, proxyShapeKey } from '../model/generate.js';
import type { ModelOptions } from '../model/gateway-identity.js';
import { buildNameTable } from '../model/name-table.js';
import { buildGatewaySecrets, referencedSecretNames, sdsNamesOfSecret } from '../model/secrets.js';
import { TypeUrl, type Cluster, type Listener, type Secret } from '../envoy/envoy-types.js';
import type { ProxyNode } from '../envoy/node.js';
import { snapshotFromResources, type Snapshot, type SnapshotCache } from '../xds/snapshot-cache.js';
import type { Logger } from '../shared/log.js';
import type { ControlPlaneMetrics } from './metrics.js';

export interface ProxyPusherOptions {
  config: () => ConfigSnapshot;
  cache: SnapshotCache;
  log: Logger;
  metrics: ControlPlaneMetrics;
  debounceMs: number;
  /** The control plane's settings the model reads (which service accounts may hold gateway credentials). */
  model?: ModelOptions;
  /** The clock (performance.now() by default). */
  now?: () => number;
}

/** The SDS names the changed `Secret/<namespace>/<name>` keys can alter, by namespace; undefined if `changed` holds anything else. */
function changedCredentials(changed: ReadonlySet<string>): Map<string, Set<string>> | undefined {
  const out = new Map<string, Set<string>>();
  for (const k of changed) {
    const m = /^Secret\/([^/]+)\/(.+)$/.exec(k);
    if (!m) return undefined;
    const [, ns, name] = m as unknown as [string, string, string];
    if (!out.has(ns)) out.set(ns, new Set());
    for (const n of sdsNamesOfSecret(name)) out.get(ns)!.add(n);
  }
  return out.size > 0 ? out : undefined;
}

export class ProxyPusher {
  /** The node each open stream announced, by the stream's snapshot key. */
  private readonly streams = new Map<string, ProxyNode>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Snapshots generated from `shapesOf`, by proxy shape; emptied when the config changes. */
  private shapes = new Map<string, Snapshot>();
  private shapesOf: ConfigSnapshot | undefined;
  /** When the oldest config change not yet pushed to every proxy happened. */
  private changedAt: number | undefined;
  /** When the last immediate credential push ran. */
  private lastImmediateAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly opts: ProxyPusherOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** A stream (snapshot key `key`) for `node` opened: build its snapshot now so its first request is answered. */
  connected(key: string, node: ProxyNode): void {
    this.streams.set(key, node);
    this.regenerate(key, node);
  }

  /** The stream `key` closed: its snapshot goes; other streams of the same node keep theirs. */
  disconnected(key: string): void {
    if (!this.streams.delete(key)) return;
    this.opts.cache.clearSnapshot(key);
  }

  /**
   * Config changed (`changed`: the store's `Kind/namespace/name` keys): regenerate every connected proxy
   * after the debounce window; a change of Secrets alone first reaches the gateways that may hold them.
   */
  configChanged(changed: ReadonlySet<string> = new Set()): void {
    if (this.closed) return;
    const now = this.now();
    this.changedAt ??= now;
    const credentials = changedCredentials(changed);
    if (credentials && now - this.lastImmediateAt >= this.opts.debounceMs) {
      this.lastImmediateAt = now;
      this.pushCredentials(credentials, now);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pushAll();
    }, this.opts.debounceMs);
  }

  pushAll(): void {
    const started = this.now();
    for (const [key, node] of this.streams) this.regenerate(key, node);
    this.pushed('full', this.streams.size, started, this.changedAt);
    this.changedAt = undefined;
  }

  /**
   * Pushes the gateways whose snapshot holds one of `credentials` (SDS names by namespace): their Secrets
   * alone when the change leaves the same SDS resources servable (as istiod's SDS push regenerates only the
   * secrets), else the whole gateway (a credential gone bad or a CA added changes its listeners too).
   */
  private pushCredentials(credentials: ReadonlyMap<string, ReadonlySet<string>>, changedAt: number): void {
    const started = this.now();
    let n = 0;
    for (const [key, node] of this.streams) {
      const names = credentials.get(node.namespace);
      if (node.role !== 'router' || !names) continue;
      const current = this.opts.cache.getSnapshot(key);
      const held = current?.resources.get(TypeUrl.Secret);
      if (!current || !held || ![...names].some((name) => held.has(name))) continue;
      const secretsOnly = this.withNewSecrets(current, node);
      if (secretsOnly) this.store(key, node, secretsOnly);
      else this.regenerate(key, node);
      n++;
    }
    this.pushed('credential', n, started, changedAt);
  }

  /**
   * `current` with its Secrets rebuilt from the config, or undefined when the set of Secrets the gateway's
   * listeners and clusters can be served differs from what it holds (then they must be regenerated too).
   */
  private withNewSecrets(current: Snapshot, node: ProxyNode): Snapshot | undefined {
    const config = this.opts.config();
    const held = current.resources.get(TypeUrl.Secret)!;
    const referenced = referencedSecretNames({
      listeners: [...(current.resources.get(TypeUrl.Listener)?.values() ?? [])] as Listener[],
      clusters: [...(current.resources.get(TypeUrl.Cluster)?.values() ?? [])] as Cluster[],
    });
    let secrets: Secret[];
    try {
      secrets = buildGatewaySecrets(config, node, referenced);
    } catch {
      return undefined; // the full regeneration reports it
    }
    if (secrets.length !== held.size || secrets.some((s) => !held.has(s.name))) return undefined;
    const resources = new Map(current.resources);
    resources.set(TypeUrl.Secret, new Map(secrets.map((s) => [s.name, s])));
    return { version: String(config.version), resources };
  }

  /** Istio's pilot_proxy_convergence_time, and a debug line saying where the time went. */
  private pushed(kind: 'full' | 'credential', proxies: number, started: number, changedAt: number | undefined): void {
    if (changedAt === undefined || proxies === 0) return;
    const done = this.now();
    for (let i = 0; i < proxies; i++) this.opts.metrics.convergence.observe({ push: kind }, (done - changedAt) / 1000);
    this.opts.log.info('config pushed', {
      push: kind,
      proxies,
      sinceChangeMs: Math.round(done - changedAt),
      generateMs: Math.round(done - started),
      configVersion: this.opts.config().version,
    });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private regenerate(key: string, node: ProxyNode): void {
    const config = this.opts.config();
    if (this.shapesOf !== config) {
      this.shapes = new Map();
      this.shapesOf = config;
    }
    let snapshot: Snapshot | undefined;
    try {
      const shape = proxyShapeKey(config, node);
      snapshot = this.shapes.get(shape);
      if (!snapshot) {
        snapshot = snapshotFromResources(
          String(config.version),
          generateProxyResources(config, node, this.opts.model),
          buildNameTable(config, node),
        );
        this.shapes.set(shape, snapshot);
      }
    } catch (err) {
      this.opts.metrics.generateErrors.inc();
      this.opts.log.error('generating config for proxy failed; it keeps its previous config', {
        node: node.id,
        configVersion: config.version,
        error: (err as Error).message,
      });
      return;
    }
    this.store(key, node, snapshot);
  }

  /** Hands a snapshot to the cache; a refused one is logged and counted, and the proxy keeps its previous config. */
  private store(key: string, node: ProxyNode, snapshot: Snapshot): void {
    try {
      this.opts.cache.setSnapshot(key, snapshot);
    } catch (err) {
      this.opts.metrics.snapshotRejects.inc();
      const e = err as Error & { problems?: string[] };
      this.opts.log.error('snapshot refused; the proxy keeps its previous config', {
        node: node.id,
        configVersion: snapshot.version,
        problems: e.problems ?? [e.message],
      });
    }
  }
}
