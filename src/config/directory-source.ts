// Feeds a ConfigStore from a directory tree, as istiod's file source does: each config file is one
// store source; additions, changes and deletions are picked up by fs.watch on every folder (Node 20
// has no recursive watch on Linux) plus a bounded periodic rescan in case an event is lost. A file is
// read only once it has stopped changing (same size and mtime across two looks at least `debounceMs`
// apart), so a half-written file is never taken for the new version. The first look follows the event at
// once; only the second waits. An event naming a config file looks at that file alone; anything else
// (a folder, a kustomization, a Kubernetes `..data` swap, the periodic rescan) walks the whole tree.
// A file renamed into place (write a temporary name, then rename: the lab, kubectl-style tools, editors)
// is complete the moment it appears, so it is read at once: see `renamedIn`.
import { statSync, watch, type FSWatcher } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { DiagnosticCodes, type Diagnostic } from './diagnostics.js';
import { parseKustomization } from './kustomization.js';
import {
  applyKustomization,
  CONFIG_EXTENSIONS,
  isKustomizationFile,
  KUSTOMIZATION_FILES,
  loadConfigFile,
  type LoadResult,
} from './load.js';
import type { ConfigStore } from './store.js';

/** How long after a name vanished the next event may still be its rename's second half. */
const PAIR_WINDOW_MS = 250;

export interface DirectorySourceOptions {
  dir: string;
  store: ConfigStore;
  onDiagnostics?: (d: Diagnostic[]) => void;
  /** How long a file must stay unchanged before it is read; 100 ms by default. */
  debounceMs?: number;
  /** Period of the fallback rescan; 2 s by default. */
  rescanMs?: number;
  /** Called after each update the store took: ms from the first file event behind it (undefined: the periodic rescan). */
  onApplied?: (sinceEventMs: number | undefined) => void;
}

interface Seen {
  mtimeMs: number;
  size: number;
  /** The inode: a file renamed over another is a different file even with the same size and mtime. */
  ino?: number;
}

function sameFile(a: Seen, b: Seen): boolean {
  return a.mtimeMs === b.mtimeMs && a.size === b.size && (a.ino === undefined || b.ino === undefined || a.ino === b.ino);
}

/** One file's new content (undefined: removed) for the store. */
interface FileChange {
  sourceId: string;
  result: LoadResult | undefined;
}

/** A file renamed into place, as stat showed it when the rename's event arrived. */
interface RenamedIn extends Seen {
  ino: number;
}

interface PendingLook extends Seen {
  /** performance.now() of the look that first saw the file as it is now. */
  at: number;
}

export class DirectorySource {
  private readonly dir: string;
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private readonly watchers = new Map<string, FSWatcher>();
  /** What each loaded file looked like when it was read. */
  private readonly loaded = new Map<string, Seen>();
  /** Files seen changed but not yet stable. */
  private readonly pending = new Map<string, PendingLook>();
  private kustomizationSeen = new Map<string, Seen>();
  /** Config files named by events since the last look; looked at alone unless a full scan is due. */
  private readonly touched = new Set<string>();
  /** Other paths named by events: a full scan is due if one is a folder or held config files. */
  private readonly unknown = new Set<string>();
  private needFull = false;
  /**
   * Files whose event showed them renamed into place, not written in place: readable at once. inotify
   * reports a rename as two events delivered together (the old name, now gone, then the new one); Node
   * names both 'rename', like a file created in place, so the pair is what tells them apart. A later
   * 'change' event (someone writing the file in place) withdraws the trust.
   */
  private readonly renamedIn = new Map<string, RenamedIn>();
  /** The path the previous event named, if it was a 'rename' of something now gone that was not a loaded config file, and when. */
  private vanished: { file: string; at: number } | undefined;
  /** performance.now() of the first event not yet followed by a store update. */
  private firstEventAt: number | undefined;
  private scanTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly opts: DirectorySourceOptions) {
    this.dir = path.resolve(opts.dir);
    this.debounceMs = opts.debounceMs ?? 100;
    this.rescanMs = opts.rescanMs ?? 2000;
  }

  /** Loads every file now, then watches. */
  async start(): Promise<void> {
    await this.scan(true);
    this.rescanTimer = setInterval(() => this.requestScan(0), this.rescanMs);
    this.rescanTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.scanTimer) clearTimeout(this.scanTimer);
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.running;
  }

  /** A look in `delayMs`: the whole tree when `full` (or a full scan is already due), else the touched files. */
  private requestScan(delayMs: number, full = true): void {
    if (this.closed) return;
    if (full) this.needFull = true;
    if (this.scanTimer) clearTimeout(this.scanTimer);
    this.scanTimer = setTimeout(() => {
      this.scanTimer = undefined;
      if (this.running) {
        this.again = true;
        return;
      }
      this.running = this.tick()
        .catch((err: unknown) =>
          this.report([
            {
              level: 'Error',
              code: DiagnosticCodes.UnreadableFile,
              file: this.dir,
              message: `directory scan failed: ${(err as Error).message}`,
            },
          ]),
        )
        .finally(() => {
          this.running = undefined;
          // Events that arrived during the look are looked at now: each file's own stability window
          // (stableIn) decides when it is read, and a file renamed into place is read at once.
          if (this.again) {
            this.again = false;
            this.requestScan(0, false);
          }
        });
    }, delayMs);
    this.scanTimer.unref();
  }

  private onEvent(dir: string, event: string, name: string | null): void {
    this.firstEventAt ??= performance.now();
    if (name) this.noteRename(path.join(dir, name), event, name);
    if (!name || isKustomizationFile(name)) return this.requestScan(0, true);
    const file = path.join(dir, name);
    // A hidden name is never read itself: a writer's temporary file is looked at no further (its rename
    // names the target), while a hidden folder or link (Kubernetes' `..data` swap) still brings a full walk.
    (isConfigFileName(name) && !name.startsWith('.') ? this.touched : this.unknown).add(file);
    this.requestScan(0, false);
  }

  /**
   * Tells a rename into place from a write in place. The kernel queues a rename's two events back to back
   * (the old name, then the new one, in this folder) and they arrive as consecutive events, though on a
   * loaded machine not always in one read of the watcher. Trusted: a config file whose event directly
   * follows, within PAIR_WINDOW_MS, the event of another name in its folder that vanished, that name not
   * being the file itself (an editor moving the original aside and writing a new one in place) nor a loaded
   * config file (a deletion). Otherwise the file waits for the stability window, as before. Left open: a
   * temporary file deleted and, right after it, a new config file created in place — which no writer that
   * takes care does.
   */
  private noteRename(file: string, event: string, name: string): void {
    const previous = this.vanished && performance.now() - this.vanished.at <= PAIR_WINDOW_MS ? this.vanished.file : undefined;
    this.vanished = undefined;
    if (event !== 'rename') {
      this.renamedIn.delete(file); // written in place after all: the stability window applies
      return;
    }
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st) {
      if (this.loaded.has(file)) return;
      this.vanished = { file, at: performance.now() };
      return;
    }
    const pair = previous !== undefined && previous !== file && path.dirname(previous) === path.dirname(file);
    if (pair && st.isFile() && isConfigFileName(name)) this.renamedIn.set(file, { ino: st.ino, mtimeMs: st.mtimeMs, size: st.size });
    else this.renamedIn.delete(file);
  }

  private async tick(): Promise<void> {
    for (const u of this.unknown) {
      if (this.needFull) break;
      if (await this.needsFullScan(u)) this.needFull = true;
    }
    this.unknown.clear();
    if (this.needFull) {
      this.needFull = false;
      this.touched.clear();
      return this.scan(false);
    }
    const files = [...this.touched];
    this.touched.clear();
    return this.look(files);
  }

  /** A folder or link appeared or changed, or something holding loaded files went away. */
  private async needsFullScan(p: string): Promise<boolean> {
    try {
      const st = await lstat(p);
      return st.isDirectory() || st.isSymbolicLink();
    } catch {
      return this.watchers.has(p) || [...this.loaded.keys()].some((f) => f.startsWith(p + path.sep));
    }
  }

  /**
   * 0 when `f`, seen as `s` at `now`, has looked so for the debounce window; otherwise how long until it
   * may have (its first look in this state is recorded).
   */
  private stableIn(f: string, s: Seen, now: number): number {
    const r = this.renamedIn.get(f);
    if (r) {
      this.renamedIn.delete(f);
      // Still the very file that was renamed in (same inode, untouched since): complete, read it now.
      if (r.ino === s.ino && sameFile(r, s)) return 0;
    }
    const p = this.pending.get(f);
    if (!p || !sameFile(p, s)) {
      this.pending.set(f, { ...s, at: now });
      return this.debounceMs;
    }
    return Math.max(0, this.debounceMs - (now - p.at));
  }

  /**
   * Loads `f` into `changes` once stable: only when unchanged for the window since it was first seen so,
   * not merely since the last look (another event may have brought this look moments after the previous
   * one). Returns how long until the next look is due (infinite once loaded).
   */
  private async loadWhenStable(f: string, s: Seen, now: number, kustomization: string | undefined, changes: FileChange[]): Promise<number> {
    const wait = this.stableIn(f, s, now);
    if (wait > 0) return wait;
    await this.load(f, s, kustomization, changes);
    return Number.POSITIVE_INFINITY;
  }

  private async load(f: string, s: Seen, kustomization: string | undefined, changes: FileChange[]): Promise<void> {
    this.pending.delete(f);
    const r = await this.loadFile(f, s, kustomization);
    if (r) changes.push({ sourceId: `file:${f}`, result: r });
  }

  private kustomizationIn(dir: string): string | undefined {
    for (const k of this.kustomizationSeen.keys()) if (path.dirname(k) === dir) return k;
    return undefined;
  }

  private applyChanges(changes: FileChange[], lookAgainIn: number): void {
    if (changes.length > 0) {
      for (const diags of this.opts.store.update(changes).values()) this.report(diags);
      const since = this.firstEventAt === undefined ? undefined : performance.now() - this.firstEventAt;
      this.firstEventAt = undefined;
      this.opts.onApplied?.(since);
    }
    if (lookAgainIn === Number.POSITIVE_INFINITY) return;
    for (const f of this.pending.keys()) this.touched.add(f);
    this.requestScan(Math.ceil(lookAgainIn), false);
  }

  /** The files events named, alone: changed, added or deleted, each read once stable. */
  private async look(files: string[]): Promise<void> {
    const now = performance.now();
    let lookAgainIn = Number.POSITIVE_INFINITY;
    const changes: FileChange[] = [];
    for (const f of files) {
      let s: Seen | undefined;
      try {
        const st = await stat(f);
        if (!st.isFile()) {
          this.requestScan(0, true); // a folder with a config file's name: the tree changed shape
          continue;
        }
        s = { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
      } catch {
        // Gone: removed below if it was loaded.
      }
      if (!s) {
        this.pending.delete(f);
        if (this.loaded.delete(f)) changes.push({ sourceId: `file:${f}`, result: undefined });
        continue;
      }
      const old = this.loaded.get(f);
      if (old && sameFile(old, s)) {
        this.pending.delete(f);
        continue;
      }
      lookAgainIn = Math.min(lookAgainIn, await this.loadWhenStable(f, s, now, this.kustomizationIn(path.dirname(f)), changes));
    }
    this.applyChanges(changes, lookAgainIn);
  }

  private report(d: Diagnostic[]): void {
    if (d.length > 0) this.opts.onDiagnostics?.(d);
  }

  private watchDir(dir: string): void {
    if (this.watchers.has(dir) || this.closed) return;
    try {
      const w = watch(dir, { persistent: false }, (event, name) => this.onEvent(dir, event, name));
      w.on('error', () => {
        // The folder went away or cannot be watched; the periodic rescan still covers it.
        w.close();
        this.watchers.delete(dir);
      });
      this.watchers.set(dir, w);
    } catch {
      // Watching can fail (folder removed meanwhile, inotify limit); the periodic rescan covers it.
    }
  }

  private async list(dir: string, files: string[], dirs: string[], depth: number): Promise<void> {
    dirs.push(dir);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      // The folder vanished between two looks; its files count as deleted.
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory() && depth < 32) await this.list(full, files, dirs, depth + 1);
      else if (
        (isConfigFileName(e.name) || e.name === 'Kustomization') &&
        (e.isFile() || (e.isSymbolicLink() && (await isFileBehindLink(full))))
      )
        files.push(full);
    }
  }

  private async scan(initial: boolean): Promise<void> {
    const files: string[] = [];
    const dirs: string[] = [];
    await this.list(this.dir, files, dirs, 0);
    for (const d of dirs) this.watchDir(d);
    for (const d of [...this.watchers.keys()]) {
      if (!dirs.includes(d)) {
        this.watchers.get(d)?.close();
        this.watchers.delete(d);
      }
    }
    const stats = new Map<string, Seen>();
    // Looked at 64 at a time: a folder of a thousand files is scanned twice for every change (the
    // stability check), and one stat after another would make each scan as slow as the disk's latency.
    let next = 0;
    const looked: (Seen | undefined)[] = new Array(files.length);
    const worker = async (): Promise<void> => {
      while (next < files.length) {
        const i = next++;
        try {
          const st = await stat(files[i] as string);
          looked[i] = { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
        } catch {
          // Deleted between listing and stat: treated as deleted below.
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(64, files.length) }, worker));
    files.forEach((f, i) => {
      const seen = looked[i];
      if (seen) stats.set(f, seen);
    });
    // A changed kustomization changes the targets of every patch in its folder.
    const kustomizations = new Map<string, string>();
    const dirtyDirs = new Set<string>();
    const newK = new Map<string, Seen>();
    for (const [f, s] of stats) {
      if (!isKustomizationFile(f)) continue;
      kustomizations.set(path.dirname(f), f);
      newK.set(f, s);
      const old = this.kustomizationSeen.get(f);
      if (!old || !sameFile(old, s)) dirtyDirs.add(path.dirname(f));
    }
    for (const f of this.kustomizationSeen.keys()) if (!newK.has(f)) dirtyDirs.add(path.dirname(f));
    this.kustomizationSeen = newK;

    /** When the next look is due for a file not yet stable (ms from now). */
    let lookAgainIn = Number.POSITIVE_INFINITY;
    const now = performance.now();
    // Everything this scan found changed goes to the store as one update: one new snapshot.
    const changes: FileChange[] = [];
    for (const [f, s] of stats) {
      if (isKustomizationFile(f)) continue;
      const old = this.loaded.get(f);
      const changed = !old || !sameFile(old, s);
      if (!changed && !dirtyDirs.has(path.dirname(f))) continue;
      // At start every file is read as it is; later a changed one only once stable (a file unchanged
      // whose kustomization changed is read again at once).
      const kustomization = kustomizations.get(path.dirname(f));
      if (changed && !initial) lookAgainIn = Math.min(lookAgainIn, await this.loadWhenStable(f, s, now, kustomization, changes));
      else await this.load(f, s, kustomization, changes);
    }
    for (const f of [...this.pending.keys()]) if (!stats.has(f)) this.pending.delete(f);
    for (const f of [...this.loaded.keys()]) {
      if (stats.has(f)) continue;
      this.loaded.delete(f);
      this.pending.delete(f);
      changes.push({ sourceId: `file:${f}`, result: undefined });
    }
    this.applyChanges(changes, lookAgainIn);
  }

  private async loadFile(f: string, s: Seen, kustomization: string | undefined): Promise<LoadResult | undefined> {
    const r = await loadConfigFile(f);
    if (r.diagnostics.some((d) => d.code === DiagnosticCodes.UnreadableFile && d.message.includes('ENOENT'))) return undefined; // deleted meanwhile; the next scan removes it
    if (r.patches.length > 0 && kustomization) {
      try {
        const k = parseKustomization(await readFile(kustomization, 'utf8'), kustomization);
        r.diagnostics.push(...k.diagnostics.filter((d) => d.level === 'Error'));
        const own = k.patches.filter((ref) => ref.path !== undefined && path.resolve(path.dirname(kustomization), ref.path) === f);
        r.diagnostics.push(...applyKustomization(own, path.dirname(kustomization), r.patches, kustomization));
      } catch (err) {
        r.diagnostics.push({
          level: 'Error',
          code: DiagnosticCodes.UnreadableFile,
          file: kustomization,
          message: `cannot read: ${(err as Error).message}`,
        });
      }
    }
    this.loaded.set(f, s);
    return r;
  }
}

function isConfigFileName(name: string): boolean {
  const lower = name.toLowerCase();
  return CONFIG_EXTENSIONS.some((x) => lower.endsWith(x));
}

export { KUSTOMIZATION_FILES };

/** A link to a regular file (a Kubernetes ConfigMap volume's `name -> ..data/name`) is read as that file. */
async function isFileBehindLink(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false; // dangling: nothing to read
  }
}
