// Where the lab keeps its state, and whether a folder can be trusted to hold it. The lab runs as root
// and reads back what is in its state dir (the CA a control plane loads, the state file `lab down`
// removes things by, the summary `lab exec` runs commands from), so a folder another local user could
// have made or written is never used: the default is a fresh `mkdtemp` folder (0700, ours, a name no
// one can predict), and a given folder must already be ours with no group or other bits.
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class LabStateDirError extends Error {
  readonly code = 'E_LAB_STATE_DIR';
  constructor(message: string) {
    super(message);
    this.name = 'LabStateDirError';
  }
}

const DEFAULT_PREFIX = 'meshgate-lab-';

/** The state file's name inside a state dir (lab-state.ts reads and writes it). */
export const STATE_FILE = 'lab-state.json';

function me(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

function describeMode(st: Stats): string {
  return `0${(st.mode & 0o777).toString(8).padStart(3, '0')}`;
}

/** A fresh state dir for lab `labName` under the temp dir: `meshgate-lab-<name>-XXXXXX`, mode 0700. */
export function createDefaultStateDir(labName: string, parent = os.tmpdir()): string {
  return mkdtempSync(path.join(parent, `${DEFAULT_PREFIX}${labName}-`));
}

/**
 * A state dir the caller named: created 0700 when missing; when it exists, refused unless it is a
 * directory (not a symlink) owned by the caller with mode 0700, since anything else may hold files
 * planted by another user. Returns the absolute path.
 */
export function prepareGivenStateDir(dir: string): string {
  const abs = path.resolve(dir);
  mkdirSync(path.dirname(abs), { recursive: true });
  try {
    mkdirSync(abs, { mode: 0o700 });
    return abs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatSync(abs);
  const uid = me();
  if (st.isSymbolicLink())
    throw new LabStateDirError(
      `state dir ${abs} is a symbolic link (owner uid ${st.uid}); give a real directory owned by uid ${uid} with mode 0700`,
    );
  if (!st.isDirectory()) throw new LabStateDirError(`state dir ${abs} exists and is not a directory`);
  if (st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new LabStateDirError(
      `state dir ${abs} is owned by uid ${st.uid} with mode ${describeMode(st)}; the lab runs with uid ${uid} and uses an existing state dir only when ` +
        `it is owned by uid ${uid} with mode 0700 (no group or other bits), since another user could have planted files in it. ` +
        `Run "chmod 700 ${abs}" if it is yours, or give a new path (it is created 0700)`,
    );
  }
  return abs;
}

/**
 * Whether a folder holding a lab's state may be read back by this user: a directory owned by the
 * caller that no one else may write, with a state file that is a regular file owned by the caller.
 * (A running lab opens its state dir to others for traversal only: netns proxies run as uid 1337.)
 * Returns why not, or undefined.
 */
export function untrustedStateDirReason(dir: string): string | undefined {
  const uid = me();
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    return `cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  if (!st.isDirectory()) return `${dir} is not a directory${st.isSymbolicLink() ? ' (a symbolic link)' : ''}`;
  if (st.uid !== uid || (st.mode & 0o022) !== 0)
    return `state dir ${dir} is owned by uid ${st.uid} with mode ${describeMode(st)}; only a folder owned by uid ${uid} that no one else may write is trusted`;
  const file = path.join(dir, STATE_FILE);
  let fst: Stats;
  try {
    fst = lstatSync(file);
  } catch {
    return undefined; // no state file: the caller reports that in its own words
  }
  if (!fst.isFile() || fst.uid !== uid || (fst.mode & 0o022) !== 0)
    return `${file} is ${fst.isFile() ? `owned by uid ${fst.uid} with mode ${describeMode(fst)}` : 'not a regular file'}; only a state file owned by uid ${uid} that no one else may write is trusted`;
  return undefined;
}

/**
 * The state dirs of labs started with the default state dir that this user may trust, holding a state
 * file: for lab `labName`, or for any lab when it is absent.
 */
export function findDefaultStateDirs(labName?: string, parent = os.tmpdir()): string[] {
  // mkdtemp appends exactly six characters, which tells `lab-a-XXXXXX` apart from lab `lab-a-b`'s folders.
  const escaped = labName?.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^${DEFAULT_PREFIX}${escaped ?? '.+'}-[A-Za-z0-9]{6}$`);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return []; // no temp dir to look in: no lab there
  }
  return names
    .filter((n) => pattern.test(n))
    .map((n) => path.join(parent, n))
    .filter((d) => {
      try {
        return lstatSync(path.join(d, STATE_FILE)).isFile() && untrustedStateDirReason(d) === undefined;
      } catch {
        return false; // no state file: not a lab (or one already gone)
      }
    })
    .sort();
}
