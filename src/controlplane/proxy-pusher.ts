// Istio's push path: for every connected proxy, the model turns the config snapshot into that proxy's
// resources, the snapshot cache checks and stores them, and the ADS server pushes whatever changed.
// A new proxy gets its snapshot synchronously when it connects; config changes are debounced (istiod's
// PILOT_DEBOUNCE_AFTER, 100 ms) and then every proxy is regenerated — pushes stay scoped because a proxy
// whose generated resources did not change gets no new version. Proxies of the same shape (the model's
// proxyShapeKey: role, namespace, labels, ...) share one generated snapshot per config version, so a
// fleet of identical sidecars costs one generation, one consistency check and one encoding.
// State is per stream (the ADS server's connection id, which is also the snapshot's key in the cache),
// as istiod keeps one Proxy per connection: a proxy that reconnects with new labels while its old
// stream lingers gets config for the new labels, and the old stream keeps its own until it closes.
import type { ConfigSnapshot } from '../config/types.js';
import { generateProxyResources, proxyShapeKey } from '../model/generate.js';
import type { ModelOptions } from '../model/gateway-identity.js';
import { buildNameTable } from '../model/name-table.js';
import type { ProxyNode } from '../xds/node.js';
import { snapshotFromResources, type Snapshot, type SnapshotCache } from '../xds/snapshot-cache.js';
import type { Logger } from '../xds/log.js';
import type { ControlPlaneMetrics } from './metrics.js';

export interface ProxyPusherOptions {
  config: () => ConfigSnapshot;
  cache: SnapshotCache;
  log: Logger;
  metrics: ControlPlaneMetrics;
  debounceMs: number;
  /** The control plane's settings the model reads (which service accounts may hold gateway credentials). */
  model?: ModelOptions;
}

export class ProxyPusher {
  /** The node each open stream announced, by the stream's snapshot key. */
  private readonly streams = new Map<string, ProxyNode>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Snapshots generated from `shapesOf`, by proxy shape; emptied when the config changes. */
  private shapes = new Map<string, Snapshot>();
  private shapesOf: ConfigSnapshot | undefined;

  constructor(private readonly opts: ProxyPusherOptions) {}

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

  /** Config changed: regenerate every connected proxy after the debounce window. */
  configChanged(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pushAll();
    }, this.opts.debounceMs);
  }

  pushAll(): void {
    for (const [key, node] of this.streams) this.regenerate(key, node);
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
        snapshot = snapshotFromResources(String(config.version), generateProxyResources(config, node, this.opts.model), buildNameTable(config, node));
        this.shapes.set(shape, snapshot);
      }
    } catch (err) {
      this.opts.metrics.generateErrors.inc();
      this.opts.log.error('generating config for proxy failed; it keeps its previous config', { node: node.id, configVersion: config.version, error: (err as Error).message });
      return;
    }
    try {
      this.opts.cache.setSnapshot(key, snapshot);
    } catch (err) {
      this.opts.metrics.snapshotRejects.inc();
      const e = err as Error & { problems?: string[] };
      this.opts.log.error('snapshot refused; the proxy keeps its previous config', { node: node.id, configVersion: config.version, problems: e.problems ?? [e.message] });
    }
  }
}
