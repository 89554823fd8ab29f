// Feeds a ConfigStore from a Kubernetes API server, as istiod's kube config controller does: an
// informer per kind the loader accepts (informer-set.ts), each object loaded and validated as a file
// holding it would be (object-conversion.ts), one store source per object so a rejected update keeps
// that object's last good version in force, and Secrets read only by the names gateways give
// (secret-selection.ts). Changes arriving together (a list, a burst of watch events) reach the store as
// one update: one new snapshot.
import { ApisApi, KubeConfig, KubernetesObjectApi, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { DiagnosticCodes, type Diagnostic } from '../config/diagnostics.js';
import type { LoadResult } from '../config/load.js';
import type { ConfigStore } from '../config/store.js';
import { loadKubeObject, objectSourceId, type KubeObject } from './object-conversion.js';
import { RunningInformer } from './informer-set.js';
import { selectedSecretNames } from './secret-selection.js';
import { apiVersionOf, collectionPath, SECRET_KIND, WATCHED_KINDS, type WatchedKind } from './watched-kinds.js';

export class KubernetesSourceError extends Error {
  readonly code = 'E_KUBE_SOURCE';
}

export interface KubernetesSourceOptions {
  /** A kubeconfig file; its current context names the server and the credentials. */
  kubeconfig: string;
  store: ConfigStore;
  onDiagnostics?: (d: Diagnostic[]) => void;
  /** A list (first or after 410 Gone) or a watch failure, for logs and metrics. */
  onList?: (path: string) => void;
  onWatchError?: (path: string, err: unknown, retryInMs: number) => void;
  /** Objects refused: reported back on the API server as a Warning Event on the object (as istiod's status reporting does, simply). */
  reportEvents?: boolean;
  /** How long to wait for the first complete list of every kind; default 30 s. */
  syncTimeoutMs?: number;
  /** How long changes are gathered into one store update; default 10 ms. */
  batchMs?: number;
}

interface Change {
  sourceId: string;
  result: LoadResult | undefined;
}

export class KubernetesSource {
  private readonly kc = new KubeConfig();
  private readonly informers = new Map<string, RunningInformer>();
  private readonly secretInformers = new Map<string, RunningInformer>();
  private pending = new Map<string, Change>();
  private flushTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private unsubscribe: (() => void) | undefined;
  private objectApi!: KubernetesObjectApi;

  constructor(private readonly opts: KubernetesSourceOptions) {}

  /** Lists every kind (and the selected Secrets), puts them in the store, then keeps watching. */
  async start(): Promise<void> {
    try {
      this.kc.loadFromFile(this.opts.kubeconfig);
    } catch (err) {
      throw new KubernetesSourceError(`kubeconfig ${this.opts.kubeconfig} cannot be read: ${(err as Error).message}`, { cause: err });
    }
    if (!this.kc.getCurrentCluster()) throw new KubernetesSourceError(`kubeconfig ${this.opts.kubeconfig} has no current cluster`);
    this.objectApi = KubernetesObjectApi.makeApiClient(this.kc);
    const served = await this.servedGroupVersions();
    for (const k of WATCHED_KINDS) {
      const version = k.group === '' ? k.versions[0]! : k.versions.find((v) => served.get(k.group)?.includes(v));
      if (!version) {
        this.report([
          {
            level: 'Warning',
            code: DiagnosticCodes.UnreadableFile,
            file: this.kc.getCurrentCluster()!.server,
            message: `the API server serves no version of ${k.group} that meshgate reads (${k.versions.join(', ')}): ${k.kind} objects are not watched (Istio's CRDs not installed?)`,
          },
        ]);
        continue;
      }
      this.informers.set(k.kind, this.informerFor(k, version));
    }
    await this.waitSynced([...this.informers.values()]);
    this.flush();
    // Secrets follow the Gateways and DestinationRules in force.
    this.unsubscribe = this.opts.store.subscribe((snap) => {
      void this.selectSecrets(selectedSecretNames(snap));
    });
    await this.selectSecrets(selectedSecretNames(this.opts.store.snapshot()));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await Promise.all([...this.informers.values(), ...this.secretInformers.values()].map((i) => i.stop()));
  }

  /** Lists done per kind so far (a relist after 410 Gone counts): for tests and metrics. */
  listCounts(): Record<string, number> {
    return Object.fromEntries([...this.informers].map(([k, i]) => [k, i.lists]));
  }

  /** The Secret names being watched. */
  watchedSecretNames(): string[] {
    return [...this.secretInformers.keys()].sort();
  }

  private async servedGroupVersions(): Promise<Map<string, string[]>> {
    try {
      const groups = await this.kc.makeApiClient(ApisApi).getAPIVersions();
      return new Map(groups.groups.map((g) => [g.name, g.versions.map((v) => v.version)]));
    } catch (err) {
      throw new KubernetesSourceError(`API server ${this.kc.getCurrentCluster()!.server} cannot be reached: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  private informerFor(k: WatchedKind, version: string, fieldSelector?: string): RunningInformer {
    const apiVersion = apiVersionOf(k, version);
    const inf = new RunningInformer(
      this.kc,
      {
        path: collectionPath(k, version),
        list: () =>
          this.objectApi.list(apiVersion, k.kind, undefined, undefined, undefined, undefined, fieldSelector) as Promise<
            KubernetesListObject<KubernetesObject>
          >,
        ...(fieldSelector ? { fieldSelector } : {}),
        handlers: {
          upsert: (o) =>
            this.stage({ sourceId: objectSourceId(k.kind, o as KubeObject), result: loadKubeObject(k, version, o as KubeObject) }),
          remove: (o) => this.stage({ sourceId: objectSourceId(k.kind, o as KubeObject), result: undefined }),
        },
      },
      {
        onList: (p) => this.opts.onList?.(p),
        onError: (p, err, retryInMs) => this.opts.onWatchError?.(p, err, retryInMs),
      },
    );
    inf.start();
    return inf;
  }

  private async waitSynced(infs: RunningInformer[]): Promise<void> {
    const timeoutMs = this.opts.syncTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new KubernetesSourceError(
              `the API server ${this.kc.getCurrentCluster()!.server} did not list every kind within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([Promise.all(infs.map((i) => i.synced)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async selectSecrets(names: string[]): Promise<void> {
    if (this.closed) return;
    const started: RunningInformer[] = [];
    for (const n of names) {
      if (this.secretInformers.has(n)) continue;
      const inf = this.informerFor(SECRET_KIND, 'v1', `metadata.name=${n}`);
      this.secretInformers.set(n, inf);
      started.push(inf);
    }
    for (const [n, inf] of [...this.secretInformers]) {
      if (names.includes(n)) continue;
      this.secretInformers.delete(n);
      await inf.stop();
      // No Gateway names it any more: it leaves the config, as Istio's controller drops its watch.
      for (const o of inf.objects()) this.stage({ sourceId: objectSourceId('Secret', o as KubeObject), result: undefined });
    }
    if (started.length > 0) {
      await this.waitSynced(started).catch((err: unknown) =>
        this.report([{ level: 'Error', code: DiagnosticCodes.UnreadableFile, message: (err as Error).message }]),
      );
    }
    this.flush(); // the Secrets a new Gateway names arrive with it, not a batch later
  }

  private stage(c: Change): void {
    if (this.closed) return;
    this.pending.set(c.sourceId, c);
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.flush();
      }, this.opts.batchMs ?? 10);
      this.flushTimer.unref();
    }
  }

  private flush(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.pending.size === 0 || this.closed) return;
    const changes = [...this.pending.values()];
    this.pending = new Map();
    const out = this.opts.store.update(changes);
    for (const [sourceId, diags] of out) {
      this.report(diags);
      if (this.opts.reportEvents && diags.some((d) => d.level === 'Error'))
        void this.postEvent(
          sourceId,
          diags.filter((d) => d.level === 'Error'),
        );
    }
  }

  private report(d: Diagnostic[]): void {
    if (d.length > 0) this.opts.onDiagnostics?.(d);
  }

  /** A Warning Event on the refused object, so `kubectl describe`/`kubectl get events` shows why. */
  private async postEvent(sourceId: string, diags: Diagnostic[]): Promise<void> {
    const m = /^kubernetes:([^/]+)\/([^/]*)\/(.+)$/.exec(sourceId);
    if (!m) return;
    const [, kind, namespace, name] = m as unknown as [string, string, string, string];
    const ns = namespace === '' ? 'default' : namespace;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const message = diags
      .map((d) => `${d.field ? `${d.field}: ` : ''}${d.message}`)
      .join('; ')
      .slice(0, 1024);
    try {
      await this.objectApi.create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { namespace: ns, name: `${name}.${Date.now().toString(16)}` },
        involvedObject: { kind, namespace: namespace || undefined, name },
        reason: 'ConfigRejected',
        message: `meshgate refused this object; its last valid version stays in force: ${message}`,
        type: 'Warning',
        source: { component: 'meshgate-control-plane' },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      } as KubernetesObject);
    } catch (err) {
      this.report([
        {
          level: 'Info',
          code: DiagnosticCodes.UnreadableFile,
          message: `could not post an Event for ${kind} ${namespace}/${name}: ${(err as Error).message}`,
        },
      ]);
    }
  }
}
