// The double's storage (etcd's job behind a real API server): every object under one cluster-wide,
// strictly increasing resourceVersion, and a bounded history of changes from which a watch started at
// resourceVersion N replays every change after N in order. A resourceVersion older than the history
// is answered as the real server answers a compacted one: 410 Gone, reason Expired.
import { randomUUID } from 'node:crypto';
import type { JsonObject } from './patch.js';
import type { ResourceType } from './resources.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  rv: number;
  type: WatchEventType;
  resource: ResourceType;
  object: JsonObject;
}

export type WatchListener = (e: StoredEvent) => void;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
  get code(): string {
    return `E_KUBE_${this.reason.toUpperCase()}`;
  }
}

function keyOf(r: ResourceType, namespace: string, name: string): string {
  return `${r.group}/${r.kind}/${r.namespaced ? namespace : ''}/${name}`;
}

function meta(o: JsonObject): JsonObject {
  return (o.metadata ?? {}) as JsonObject;
}

export class ObjectStore {
  private rv = 0;
  private readonly objects = new Map<string, { resource: ResourceType; object: JsonObject }>();
  private history: StoredEvent[] = [];
  /** The oldest resourceVersion a watch may still start from (changes after it are all in history). */
  private oldestRv = 0;
  private readonly listeners = new Set<WatchListener>();

  constructor(private readonly maxHistory = 1000) {}

  currentRv(): number {
    return this.rv;
  }

  get(r: ResourceType, namespace: string, name: string): JsonObject | undefined {
    return this.objects.get(keyOf(r, namespace, name))?.object;
  }

  list(r: ResourceType, namespace: string | undefined): JsonObject[] {
    const out: JsonObject[] = [];
    for (const { resource, object } of this.objects.values()) {
      if (resource !== r) continue;
      if (namespace !== undefined && r.namespaced && meta(object).namespace !== namespace) continue;
      out.push(object);
    }
    return out.sort((a, b) =>
      `${String(meta(a).namespace ?? '')}/${String(meta(a).name)}`.localeCompare(
        `${String(meta(b).namespace ?? '')}/${String(meta(b).name)}`,
      ),
    );
  }

  namespaceExists(name: string): boolean {
    for (const { resource, object } of this.objects.values()) if (resource.kind === 'Namespace' && meta(object).name === name) return true;
    return false;
  }

  create(r: ResourceType, namespace: string, obj: JsonObject): JsonObject {
    const m = meta(obj);
    const name = m.name;
    if (typeof name !== 'string' || name === '')
      throw new ApiError(422, 'Invalid', `${r.kind} is invalid: metadata.name: Required value: name is required`);
    if (this.objects.has(keyOf(r, namespace, name))) throw new ApiError(409, 'AlreadyExists', `${r.plural} "${name}" already exists`);
    if (r.namespaced && !this.namespaceExists(namespace)) throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`);
    const stored: JsonObject = {
      ...obj,
      metadata: {
        ...m,
        ...(r.namespaced ? { namespace } : {}),
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        generation: 1,
        resourceVersion: '',
      },
    };
    delete (stored.metadata as JsonObject).deletionTimestamp;
    return this.commit('ADDED', r, namespace, name, stored);
  }

  /** Replaces an object; `expectedRv` (the client's metadata.resourceVersion) must match when given. */
  update(r: ResourceType, namespace: string, name: string, obj: JsonObject): JsonObject {
    const cur = this.get(r, namespace, name);
    if (!cur) throw new ApiError(404, 'NotFound', `${r.plural} "${name}" not found`);
    const m = meta(obj);
    if (m.name !== undefined && m.name !== name)
      throw new ApiError(400, 'BadRequest', `the name of the object (${String(m.name)}) does not match the name on the URL (${name})`);
    const expected = m.resourceVersion;
    if (typeof expected === 'string' && expected !== '' && expected !== meta(cur).resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${r.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    const cm = meta(cur);
    const specChanged = JSON.stringify(obj.spec) !== JSON.stringify(cur.spec);
    const stored: JsonObject = {
      ...obj,
      metadata: {
        ...m,
        name,
        ...(r.namespaced ? { namespace } : {}),
        uid: cm.uid as string,
        creationTimestamp: cm.creationTimestamp as string,
        generation: (cm.generation as number) + (specChanged ? 1 : 0),
        resourceVersion: '',
      },
    };
    if (
      JSON.stringify({ ...stored, metadata: { ...meta(stored), resourceVersion: '' } }) ===
      JSON.stringify({ ...cur, metadata: { ...cm, resourceVersion: '' } })
    )
      return cur; // no-op: no new resourceVersion, no event
    return this.commit('MODIFIED', r, namespace, name, stored);
  }

  delete(r: ResourceType, namespace: string, name: string): JsonObject {
    const cur = this.get(r, namespace, name);
    if (!cur) throw new ApiError(404, 'NotFound', `${r.plural} "${name}" not found`);
    return this.commit('DELETED', r, namespace, name, { ...cur, metadata: { ...meta(cur) } });
  }

  private commit(type: WatchEventType, r: ResourceType, namespace: string, name: string, obj: JsonObject): JsonObject {
    this.rv++;
    (obj.metadata as JsonObject).resourceVersion = String(this.rv);
    const key = keyOf(r, namespace, name);
    if (type === 'DELETED') this.objects.delete(key);
    else this.objects.set(key, { resource: r, object: obj });
    const e: StoredEvent = { rv: this.rv, type, resource: r, object: obj };
    this.history.push(e);
    if (this.history.length > this.maxHistory) {
      const dropped = this.history.splice(0, this.history.length - this.maxHistory);
      this.oldestRv = dropped[dropped.length - 1]!.rv;
    }
    for (const l of [...this.listeners]) l(e);
    return obj;
  }

  /** Forgets all history (etcd compaction): every watch from a resourceVersion before now gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.oldestRv = this.rv;
  }

  /** The changes after `rv` for a watch, or undefined when they are no longer known (410 Gone). */
  eventsSince(rv: number): StoredEvent[] | undefined {
    if (rv < this.oldestRv) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  subscribe(l: WatchListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
