// The lab's state file: every namespace, link, process, file and temp dir the lab created, recorded by
// its exact id the moment it exists, so `lab down` (this process or another) removes exactly those —
// never anything found by a pattern — also after a crash half-way through `lab up`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pidAlive, terminatePid } from './child-exit.js';
import { STATE_FILE, untrustedStateDirReason } from './state-dir.js';

export type LabResource =
  | { kind: 'netns'; name: string }
  | { kind: 'link'; netns: string; name: string }
  | { kind: 'process'; name: string; pid: number; startTime: string; netns?: string }
  | { kind: 'file'; path: string }
  | { kind: 'dir'; path: string; /** Created as a shared parent (e.g. /etc/netns): removed only when empty. */ onlyIfEmpty?: boolean };

export interface LabStateFile {
  labId: string;
  mode: 'netns' | 'loopback';
  labFile: string;
  stateDir: string;
  /** The process that ran `lab up` (foreground or the one that detached). */
  ownerPid: number;
  createdAt: string;
  status: 'starting' | 'ready' | 'stopping' | 'stopped' | 'failed';
  resources: LabResource[];
  /** What `lab status`, `lab verify` and the benchmark need to find the running parts. */
  summary?: unknown;
}

export class LabStateError extends Error {
  constructor(
    readonly code: 'E_LAB_STATE' | 'E_LAB_CLEANUP',
    message: string,
  ) {
    super(message);
    this.name = 'LabStateError';
  }
}

export { STATE_FILE };

/** Start time of a process (field 22 of /proc/PID/stat), so a reused pid is never mistaken for ours. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    // No /proc entry: the process is gone (or this is not Linux); callers treat that as "not ours".
    return undefined;
  }
}

export class LabState {
  private constructor(
    readonly file: string,
    private data: LabStateFile,
  ) {}

  static create(stateDir: string, init: Omit<LabStateFile, 'resources' | 'createdAt' | 'status' | 'stateDir'>): LabState {
    mkdirSync(stateDir, { recursive: true });
    const file = path.join(stateDir, STATE_FILE);
    if (existsSync(file)) {
      const existing = LabState.load(stateDir);
      if (existing.hasLiveParts()) {
        throw new LabStateError(
          'E_LAB_STATE',
          `a lab is already running from ${stateDir} (lab ${existing.data.labId}); run "meshgate lab down --state-dir ${stateDir}" first`,
        );
      }
      if (existing.data.resources.length > 0) {
        throw new LabStateError(
          'E_LAB_STATE',
          `${file} still records ${existing.data.resources.length} resource(s) of lab ${existing.data.labId}; run "meshgate lab down --state-dir ${stateDir}" first`,
        );
      }
    }
    const s = new LabState(file, { ...init, stateDir, createdAt: new Date().toISOString(), status: 'starting', resources: [] });
    s.save();
    return s;
  }

  static load(stateDir: string): LabState {
    const file = path.join(stateDir, STATE_FILE);
    // `lab down` removes what the file records and `lab exec` runs what it describes: never from a
    // folder or file another user could have written.
    const untrusted = existsSync(stateDir) ? untrustedStateDirReason(stateDir) : undefined;
    if (untrusted) throw new LabStateError('E_LAB_STATE', `refusing to use the lab state in ${stateDir}: ${untrusted}`);
    let data: LabStateFile;
    try {
      data = JSON.parse(readFileSync(file, 'utf8')) as LabStateFile;
    } catch (err) {
      throw new LabStateError('E_LAB_STATE', `no lab state in ${stateDir}: ${(err as Error).message}`);
    }
    if (!Array.isArray(data.resources) || typeof data.labId !== 'string')
      throw new LabStateError('E_LAB_STATE', `${file} is not a lab state file`);
    return new LabState(file, data);
  }

  get value(): Readonly<LabStateFile> {
    return this.data;
  }

  /** Records a resource; call right after creating it (before anything else can fail). */
  add(r: LabResource): void {
    this.data.resources.push(r);
    this.save();
  }

  remove(r: LabResource): void {
    const i = this.data.resources.indexOf(r);
    if (i >= 0) this.data.resources.splice(i, 1);
    this.save();
  }

  update(patch: Partial<Pick<LabStateFile, 'status' | 'summary' | 'ownerPid'>>): void {
    Object.assign(this.data, patch);
    this.save();
  }

  hasLiveParts(): boolean {
    return this.data.resources.some((r) => r.kind === 'process' && processStartTime(r.pid) === r.startTime);
  }

  private save(): void {
    // Write then rename, so a reader (or a crash) never sees half a file.
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.data, null, 2)}\n`, { mode: 0o644 });
    renameSync(tmp, this.file);
  }

  /**
   * Removes every recorded resource: processes first (newest first), then links, namespaces, files,
   * dirs. Each is removed by its recorded id and dropped from the file once gone; failures are
   * collected and reported together, and whatever could not be removed stays recorded.
   */
  async teardown(log: (line: string) => void = () => undefined): Promise<void> {
    this.update({ status: 'stopping' });
    const failures: string[] = [];
    const order: LabResource['kind'][] = ['process', 'link', 'netns', 'file', 'dir'];
    const ownDir = path.dirname(this.file);
    // The state dir itself (when the lab made it) goes last, once nothing else is left to record.
    const isOwnDir = (r: LabResource): boolean => r.kind === 'dir' && path.resolve(r.path) === ownDir;
    for (const kind of order) {
      const batch = this.data.resources.filter((r) => r.kind === kind && !isOwnDir(r)).reverse();
      if (kind === 'process') {
        // Stop in parallel: each gets its own SIGTERM grace period.
        await Promise.all(
          batch.map(async (r) => {
            try {
              await removeResource(r, log);
              this.remove(r);
            } catch (err) {
              failures.push(`${describe(r)}: ${(err as Error).message}`);
            }
          }),
        );
        continue;
      }
      for (const r of batch) {
        try {
          await removeResource(r, log);
          this.remove(r);
        } catch (err) {
          failures.push(`${describe(r)}: ${(err as Error).message}`);
        }
      }
    }
    const own = this.data.resources.find(isOwnDir);
    if (failures.length === 0 && own && this.data.resources.length === 1) {
      rmSync(ownDir, { recursive: true, force: true });
      this.data.resources = [];
      return;
    }
    if (failures.length > 0) {
      this.update({ status: 'failed' });
      throw new LabStateError(
        'E_LAB_CLEANUP',
        `could not remove ${failures.length} lab resource(s):\n  ${failures.join('\n  ')}\n(still recorded in ${this.file})`,
      );
    }
    this.update({ status: 'stopped' });
  }
}

export function describe(r: LabResource): string {
  switch (r.kind) {
    case 'netns':
      return `network namespace ${r.name}`;
    case 'link':
      return `link ${r.name} in ${r.netns}`;
    case 'process':
      return `process ${r.name} (pid ${r.pid})`;
    case 'file':
      return `file ${r.path}`;
    case 'dir':
      return `directory ${r.path}`;
  }
}

function ip(args: string[]): { ok: boolean; stderr: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, stderr: (r.stderr ?? '').trim() || String(r.error ?? '') };
}

export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`) || existsSync(`/var/run/netns/${name}`);
}

async function removeResource(r: LabResource, log: (line: string) => void): Promise<void> {
  switch (r.kind) {
    case 'process': {
      // Only a process whose start time still matches is ours; a reused pid is left alone.
      if (processStartTime(r.pid) !== r.startTime) return;
      log(`stopping ${r.name} (pid ${r.pid})`);
      await terminatePid(r.pid, 10_000);
      if (pidAlive(r.pid) && processStartTime(r.pid) === r.startTime) throw new Error('still running after SIGKILL');
      return;
    }
    case 'link': {
      if (!netnsExists(r.netns)) return;
      const show = ip(['-n', r.netns, 'link', 'show', 'dev', r.name]);
      if (!show.ok) return; // already gone, e.g. its veth peer was deleted first
      const del = ip(['-n', r.netns, 'link', 'del', 'dev', r.name]);
      if (!del.ok) throw new Error(del.stderr);
      return;
    }
    case 'netns': {
      if (!netnsExists(r.name)) return;
      log(`deleting network namespace ${r.name}`);
      const del = ip(['netns', 'del', r.name]);
      if (!del.ok) throw new Error(del.stderr);
      return;
    }
    case 'file':
      rmSync(r.path, { force: true });
      return;
    case 'dir':
      if (r.onlyIfEmpty) {
        try {
          rmdirSync(r.path);
        } catch (err) {
          // Not empty (another lab uses it) or already gone: either way it is not ours to remove now.
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw err;
        }
        return;
      }
      rmSync(r.path, { recursive: true, force: true });
      return;
  }
}
