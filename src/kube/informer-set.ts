// A set of informers (client-node's ListWatch: list, then watch from the list's resourceVersion; on a
// 410 Gone — an HTTP 410 or a watch ERROR event with code 410 — list again) with what ListWatch leaves to
// its user: `allowWatchBookmarks=true` on every watch (so a quiet watch's resourceVersion stays recent
// and a reconnect rarely needs a relist, as client-go's reflector asks), a restart with exponential
// backoff after any other error (ListWatch stops there), and a promise for the first complete list.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';

export interface InformerHandlers {
  upsert(o: KubernetesObject): void;
  remove(o: KubernetesObject): void;
}

export interface InformerEvents {
  /** A list was (re)read: the first one, or a relist after 410 Gone. */
  onList?(path: string): void;
  onError?(path: string, err: unknown, retryInMs: number): void;
}

export interface InformerSpec {
  /** Collection path, `/api/v1/pods`. */
  path: string;
  list: () => Promise<KubernetesListObject<KubernetesObject>>;
  fieldSelector?: string;
  handlers: InformerHandlers;
}

const BACKOFF_MIN_MS = 200;
const BACKOFF_MAX_MS = 30_000;

/** One informer kept running until stopped. */
export class RunningInformer {
  private readonly lw: ListWatch<KubernetesObject>;
  private stopped = false;
  private backoffMs = BACKOFF_MIN_MS;
  private retry: NodeJS.Timeout | undefined;
  readonly synced: Promise<void>;
  private markSynced!: () => void;
  lists = 0;

  constructor(
    kc: KubeConfig,
    private readonly spec: InformerSpec,
    private readonly events: InformerEvents,
  ) {
    this.synced = new Promise((resolve) => {
      this.markSynced = resolve;
    });
    const watch = new Watch(kc);
    // ListWatch calls watch() right after it has applied a list (or to resume): the list is complete.
    let listedSinceWatch = false;
    const bookmarkingWatch = {
      watch: (
        path: string,
        params: Record<string, string | number | boolean | undefined>,
        cb: (phase: string, obj: unknown, w: unknown) => void,
        done: (err: unknown) => void,
      ) => {
        if (listedSinceWatch) {
          listedSinceWatch = false;
          this.lists++;
          this.events.onList?.(this.spec.path);
          this.markSynced();
        }
        return watch.watch(
          path,
          { ...params, allowWatchBookmarks: true },
          (phase, obj, w) => {
            // A watch that delivers events is healthy again: the next failure starts from the shortest wait.
            this.backoffMs = BACKOFF_MIN_MS;
            cb(phase, obj, w);
          },
          done,
        );
      },
    };
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const l = await this.spec.list();
      listedSinceWatch = true;
      return l;
    };
    this.lw = new ListWatch<KubernetesObject>(spec.path, bookmarkingWatch as unknown as Watch, list, false, undefined, spec.fieldSelector);
    this.lw.on('add', (o) => this.spec.handlers.upsert(o));
    this.lw.on('update', (o) => this.spec.handlers.upsert(o));
    this.lw.on('delete', (o) => this.spec.handlers.remove(o));
    this.lw.on('error', (err) => this.failed(err));
  }

  start(): void {
    this.lw.start().catch((err: unknown) => this.failed(err));
  }

  private failed(err: unknown): void {
    if (this.stopped) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    this.events.onError?.(this.spec.path, err, wait);
    if (this.retry) clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.stopped) this.start();
    }, wait);
    this.retry.unref();
  }

  /** The objects the informer holds now. */
  objects(): readonly KubernetesObject[] {
    return this.lw.list();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.lw.stop();
  }
}
