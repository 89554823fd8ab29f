// The config store: every source's objects (a file, later a Kubernetes watch) merged into one
// versioned snapshot. A bad edit never replaces good config: when a source turns invalid, each object
// it held when it was last valid stays in force (and a diagnostic says so); a patch that stops
// applying is replaced by its last version that applied. Subscribers get each new snapshot with the
// keys (`Kind/namespace/name`) that changed.
import { DiagnosticCodes, type Diagnostic } from './diagnostics.js';
import type { LoadResult, LoadedObject, LoadedPatch } from './load.js';
import { buildSnapshot, emptySnapshot } from './snapshot.js';
import { objectKey, type ConfigObject, type ConfigSnapshot, type MeshConfig } from './types.js';

interface SourceState {
  objects: Map<string, LoadedObject>;
  patches: LoadedPatch[];
}

export type SnapshotListener = (snap: ConfigSnapshot, changedKeys: ReadonlySet<string>) => void;

export interface ConfigStoreOptions {
  /** Called when a subscriber throws; the store keeps notifying the others. */
  onListenerError?: (err: unknown) => void;
}

/** Fingerprints by object: snapshots reuse unchanged objects, so each is serialised once. */
const fingerprints = new WeakMap<ConfigObject, string>();

function fingerprint(o: ConfigObject): string {
  let fp = fingerprints.get(o);
  if (fp === undefined) {
    fp = serialise(o);
    fingerprints.set(o, fp);
  }
  return fp;
}

function serialise(o: ConfigObject): string {
  return JSON.stringify(o, (_k, v: unknown) =>
    v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)
      ? Buffer.from((v as { data: number[] }).data).toString('base64')
      : v,
  );
}

export class ConfigStore {
  private readonly sources = new Map<string, SourceState>();
  private readonly listeners = new Set<SnapshotListener>();
  private current: ConfigSnapshot;
  private fingerprints = new Map<string, string>();
  private lastDiagnostics: Diagnostic[] = [];

  constructor(
    private readonly mesh: MeshConfig,
    private readonly opts: ConfigStoreOptions = {},
  ) {
    this.current = emptySnapshot(mesh, 0);
  }

  snapshot(): ConfigSnapshot {
    return this.current;
  }

  /** Diagnostics of the last snapshot build (duplicates across sources, patches). */
  snapshotDiagnostics(): readonly Diagnostic[] {
    return this.lastDiagnostics;
  }

  subscribe(fn: SnapshotListener): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  /** Replaces what `sourceId` contributes; returns the diagnostics that concern it. */
  setSource(sourceId: string, result: LoadResult): Diagnostic[] {
    return this.update([{ sourceId, result }]).get(sourceId) ?? [];
  }

  /** Removes everything `sourceId` contributed (a deleted file). */
  removeSource(sourceId: string): void {
    this.update([{ sourceId, result: undefined }]);
  }

  /**
   * Applies several sources' changes (`result` undefined removes the source) as one new snapshot — a
   * folder of a thousand files loads with one rebuild and one notification, not a thousand. Returns
   * the diagnostics that concern each changed source.
   */
  update(changes: readonly { sourceId: string; result: LoadResult | undefined }[]): Map<string, Diagnostic[]> {
    const out = new Map<string, Diagnostic[]>();
    const next = new Map(this.sources);
    const staged: {
      sourceId: string;
      prev: SourceState | undefined;
      patches: LoadedPatch[];
      ownFiles: Set<string>;
      diags: Diagnostic[];
    }[] = [];
    let removed = false;
    for (const { sourceId, result } of changes) {
      if (!result) {
        removed = next.delete(sourceId) || removed;
        continue;
      }
      const prev = this.sources.get(sourceId);
      const { state, diags } = mergeWithLastGood(prev, result);
      next.set(sourceId, state);
      const ownFiles = new Set([...state.objects.values()].map((o) => o.source.file).concat(state.patches.map((p) => p.source.file)));
      staged.push({ sourceId, prev, patches: state.patches, ownFiles, diags });
    }
    if (staged.length === 0 && !removed) return out;
    let built = this.build(next);
    let rebuild = false;
    for (const st of staged) {
      const { prev, patches } = st;
      const patchFailed = (d: Diagnostic): boolean =>
        d.level === 'Error' &&
        (d.code === DiagnosticCodes.PatchFailed || d.code === DiagnosticCodes.PatchTargetNotFound) &&
        d.file !== undefined &&
        patches.some((p) => p.source.file === d.file);
      if (prev && patches !== prev.patches && prev.patches.length > 0 && built.diagnostics.some(patchFailed)) {
        // Keep the patches that applied last time rather than losing what they added.
        st.diags.push(...built.diagnostics.filter(patchFailed));
        next.set(st.sourceId, { objects: (next.get(st.sourceId) as SourceState).objects, patches: prev.patches });
        st.diags.push({
          level: 'Warning',
          code: DiagnosticCodes.LastGoodRetained,
          message: `the new JSON patch does not apply; the last version that applied stays in force`,
          file: patches[0]?.source.file,
        });
        rebuild = true;
      }
    }
    if (rebuild) built = this.build(next);
    for (const st of staged) {
      st.diags.push(...built.diagnostics.filter((d) => d.file !== undefined && st.ownFiles.has(d.file) && !st.diags.includes(d)));
      out.set(st.sourceId, dedupe(st.diags));
    }
    this.sources.clear();
    for (const [k, v] of next) this.sources.set(k, v);
    this.publish(built.snapshot, built.diagnostics);
    return out;
  }

  sourceIds(): string[] {
    return [...this.sources.keys()];
  }

  private build(sources: Map<string, SourceState>): { snapshot: ConfigSnapshot; diagnostics: Diagnostic[] } {
    const objects: LoadedObject[] = [];
    const patches: LoadedPatch[] = [];
    for (const s of sources.values()) {
      objects.push(...s.objects.values());
      patches.push(...s.patches);
    }
    return buildSnapshot(objects, patches, this.mesh, this.current.version + 1);
  }

  private publish(candidate: ConfigSnapshot, diagnostics: Diagnostic[]): void {
    this.lastDiagnostics = diagnostics;
    const fps = new Map<string, string>();
    const all: ConfigObject[] = [
      ...candidate.serviceEntries,
      ...candidate.virtualServices,
      ...candidate.destinationRules,
      ...candidate.gateways,
      ...candidate.sidecars,
      ...candidate.peerAuthentications,
      ...candidate.authorizationPolicies,
      ...candidate.services,
      ...candidate.secrets,
      ...candidate.namespaces,
      ...candidate.serviceAccounts,
      ...candidate.pods,
    ];
    for (const o of all) fps.set(objectKey(o), fingerprint(o));
    const changed = new Set<string>();
    for (const [k, fp] of fps) if (this.fingerprints.get(k) !== fp) changed.add(k);
    for (const k of this.fingerprints.keys()) if (!fps.has(k)) changed.add(k);
    if (changed.size === 0) return;
    this.fingerprints = fps;
    this.current = candidate;
    for (const fn of [...this.listeners]) {
      try {
        fn(candidate, changed);
      } catch (err) {
        if (this.opts.onListenerError) this.opts.onListenerError(err);
        else process.emitWarning(`config store subscriber failed: ${(err as Error).message}`, { code: 'E_CONFIG_SUBSCRIBER' });
      }
    }
  }
}

/**
 * A source's new objects and patches, with each object the new version rejects kept at its last valid
 * version (and a warning saying so). An error naming no object (a YAML syntax error, an unreadable
 * file) may hide any object, so then every previous object the new version lacks is kept.
 */
function mergeWithLastGood(prev: SourceState | undefined, result: LoadResult): { state: SourceState; diags: Diagnostic[] } {
  const diags: Diagnostic[] = [...result.diagnostics];
  const objects = new Map<string, LoadedObject>();
  for (const o of result.objects) if (!objects.has(objectKey(o.object))) objects.set(objectKey(o.object), o);
  const errors = result.diagnostics.filter((d) => d.level === 'Error');
  const rejectedKeys = new Set(errors.map((d) => d.object).filter((k): k is string => k !== undefined));
  const blind = errors.some((d) => d.object === undefined);
  if (prev) {
    for (const [key, lo] of prev.objects) {
      if (objects.has(key) || !(blind || rejectedKeys.has(key))) continue;
      objects.set(key, lo);
      diags.push({
        level: 'Warning',
        code: DiagnosticCodes.LastGoodRetained,
        message: `${key} is not valid in the new version of ${lo.source.file}; its last valid version (line ${lo.source.line}) stays in force`,
        file: lo.source.file,
        line: lo.source.line,
        column: lo.source.column,
        object: key,
      });
    }
  }
  let patches = result.patches;
  if (prev && prev.patches.length > 0 && blind && patches.length === 0) patches = prev.patches;
  return { state: { objects, patches }, diags };
}

function dedupe(diags: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diags.filter((d) => {
    const k = JSON.stringify(d);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
