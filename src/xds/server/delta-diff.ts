// What a delta xDS response carries: the difference between what a proxy holds of one type and what it
// should hold now — resources new or changed (by content hash) and names that went away. Computed once
// per (held, wanted) pair of maps and shared: proxies of one shape hold the same map and are moved to the
// same next map, so one diff and one serialised response serve all of them.
//
// A large difference goes out as several responses ("pieces") of at most `maxPieceBytes` each, the
// removals in the last: the delta protocol lets a server spread resources over responses, each ACKed on
// its own. Node's TLS layer keeps, per connection, an output buffer as large as the largest single write
// it was given, so one 1 MB response to each of 2,000 proxies left 2 GB behind; pieces written one after
// another keep that at the piece size.
import { encodeDeltaResources, encodeDeltaResponse, type DeltaResource } from '../delta-discovery.js';

/** What identifies a resource's content to a delta client: its name and version (our content hash). */
export interface Versioned {
  readonly name?: string;
  readonly hash: string;
}

export type HeldMap = ReadonlyMap<string, Versioned>;

/** Holding nothing: the state of every new subscription. */
export const NOTHING_HELD: HeldMap = new Map();

export interface PreparedPiece {
  /** Unique to this prepared object, hence to every stream it is sent on once. */
  nonce: string;
  message: Buffer;
}

export interface PreparedDelta {
  changed: number;
  removed: number;
  /** The nonce of the last piece: its ACK or NACK answers the whole response. */
  nonce: string;
  /** In order; one piece unless the response is larger than `maxPieceBytes`. */
  pieces: PreparedPiece[];
  /** Every piece's bytes together. */
  bytes: number;
}

/** The default size of a piece: large enough that a typical push is one response, small enough to keep per-connection buffers small. */
export const DEFAULT_MAX_PIECE_BYTES = 64 * 1024;

export class DeltaPreparer {
  private readonly cache = new WeakMap<HeldMap, WeakMap<HeldMap, PreparedDelta | null>>();
  private next = 0;

  constructor(
    private readonly noncePrefix: string,
    private readonly controlPlaneId: string | undefined,
    private readonly maxPieceBytes: number = DEFAULT_MAX_PIECE_BYTES,
  ) {}

  /**
   * The response that moves a client from `held` to `wanted` (resources need `value` for the wire), or
   * null when there is nothing to send. `version` is the system version the response reports.
   */
  prepare(
    typeUrl: string,
    held: HeldMap,
    wanted: ReadonlyMap<string, Versioned & { value: Buffer }>,
    version: string,
  ): PreparedDelta | null {
    let byWanted = this.cache.get(held);
    if (!byWanted) {
      byWanted = new WeakMap();
      this.cache.set(held, byWanted);
    }
    const hit = byWanted.get(wanted);
    if (hit !== undefined) return hit;
    const changed: DeltaResource[] = [];
    for (const [name, r] of wanted) if (held.get(name)?.hash !== r.hash) changed.push({ name, version: r.hash, value: r.value });
    const removed: string[] = [];
    for (const name of held.keys()) if (!wanted.has(name)) removed.push(name);
    let out: PreparedDelta | null = null;
    if (changed.length > 0 || removed.length > 0) out = this.build(typeUrl, changed, removed, version);
    byWanted.set(wanted, out);
    return out;
  }

  /** An empty response (the answer to a first wildcard request when there is nothing of the type). */
  empty(typeUrl: string, version: string): PreparedDelta {
    return this.build(typeUrl, [], [], version);
  }

  private build(typeUrl: string, changed: DeltaResource[], removed: string[], version: string): PreparedDelta {
    changed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    removed.sort();
    // Resources in name order, cut where the next one would pass the budget (a resource larger than the
    // budget is a piece of its own); every piece reports the version of the whole.
    const groups: DeltaResource[][] = [];
    let group: DeltaResource[] = [];
    let size = 0;
    for (const r of changed) {
      const bytes = r.value.length + r.name.length + r.version.length + typeUrl.length + 16;
      if (group.length > 0 && size + bytes > this.maxPieceBytes) {
        groups.push(group);
        group = [];
        size = 0;
      }
      group.push(r);
      size += bytes;
    }
    groups.push(group);
    const pieces = groups.map((resources, i) => {
      const nonce = `${this.noncePrefix}-d${++this.next}`;
      const last = i === groups.length - 1;
      const message = encodeDeltaResponse(
        {
          systemVersionInfo: version,
          resources: [],
          typeUrl,
          removedResources: last ? removed : [],
          nonce,
          ...(this.controlPlaneId ? { controlPlaneId: this.controlPlaneId } : {}),
        },
        encodeDeltaResources(typeUrl, resources),
      );
      return { nonce, message };
    });
    return {
      changed: changed.length,
      removed: removed.length,
      nonce: pieces[pieces.length - 1]!.nonce,
      pieces,
      bytes: pieces.reduce((n, p) => n + p.message.length, 0),
    };
  }
}
