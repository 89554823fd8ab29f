// Issue 14's planted lab state dir, kept in the soak so it stays fixed. The lab runs as root and acts on
// what its state dir holds (`lab down` removes every path its state file records), so:
// - `lab up --state-dir` (prepareGivenStateDir) refuses an existing folder that is not ours, not 0700,
//   a symlink, or not a folder (control: a new path is created 0700, our own 0700 folder is taken);
// - `meshgate lab down --state-dir` (the real CLI, its own process) refuses a state file planted in a
//   folder another user owns or may write, and removes nothing it lists (control: the same state file in
//   our own 0700 folder does remove its canary, so the refusal is what kept it).
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { prepareGivenStateDir, STATE_FILE } from '../../src/lab/state-dir.js';
import { packageRoot } from '../../src/shared/package-root.js';
import type { SoakReport } from '../results.js';
import { runFamily, type Verdict, type Variant } from './family.js';

const execFileP = promisify(execFile);
/** The proxies' uid in netns mode: a plausible other local user. */
const OTHER_UID = 1337;

function refusedUp(dir: string): Verdict {
  try {
    prepareGivenStateDir(dir);
    return {
      ok: false,
      why: `prepareGivenStateDir accepted ${dir} (${(statSync(dir).mode & 0o777).toString(8)}, uid ${statSync(dir).uid})`,
    };
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === 'E_LAB_STATE_DIR' ? { ok: true } : { ok: false, why: `failed oddly: ${(err as Error).message}` };
  }
}

/** Plants a state file listing `canary` for removal; runs `meshgate lab down --state-dir dir`. */
async function labDown(dir: string, canary: string): Promise<{ code: number; out: string }> {
  const state = {
    labId: 'soak-planted',
    mode: 'loopback',
    labFile: path.join(dir, 'lab.yaml'),
    stateDir: dir,
    ownerPid: 2 ** 22 + 1, // above pid_max's default: no such process
    createdAt: new Date().toISOString(),
    status: 'ready',
    resources: [{ kind: 'dir', path: canary }],
  };
  writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state));
  const main = path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  try {
    const r = await execFileP(process.execPath, [main, 'lab', 'down', '--state-dir', dir], { timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? e.message}` };
  }
}

export async function runLabStateDirAttacks(report: SoakReport, rounds: number, log: (line: string) => void): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'meshgate-soak-lab-'));
  let n = 0;
  const dir = (mode: number, uid?: number): string => {
    const d = path.join(work, `d${n++}`);
    mkdirSync(d);
    chmodSync(d, mode);
    if (uid !== undefined) chownSync(d, uid, uid);
    return d;
  };
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  try {
    const variants: Variant[] = [
      { what: 'lab up: our folder, 0777', run: async () => refusedUp(dir(0o777)) },
      { what: 'lab up: our folder, 0755', run: async () => refusedUp(dir(0o755)) },
      { what: 'lab up: our folder, 0750', run: async () => refusedUp(dir(0o750)) },
      { what: 'lab up: our folder, 0701', run: async () => refusedUp(dir(0o701)) },
      {
        what: 'lab up: a symlink to our own 0700 folder',
        run: async () => {
          const l = path.join(work, `l${n++}`);
          symlinkSync(dir(0o700), l);
          return refusedUp(l);
        },
      },
      {
        what: 'lab up: a file where the folder should be',
        run: async () => {
          const f = path.join(work, `f${n++}`);
          writeFileSync(f, 'x');
          return refusedUp(f);
        },
      },
      ...(asRoot
        ? [
            { what: `lab up: a 0700 folder owned by uid ${OTHER_UID}`, run: async () => refusedUp(dir(0o700, OTHER_UID)) },
            { what: 'lab up: a 0700 folder owned by nobody (65534)', run: async () => refusedUp(dir(0o700, 65534)) },
          ]
        : []),
      ...[
        ['a 0777 folder', 0o777, undefined],
        ['a 0775 folder', 0o775, undefined],
        ...(asRoot ? [[`a 0700 folder of uid ${OTHER_UID}`, 0o700, OTHER_UID] as const] : []),
      ].map(([what, mode, uid]): Variant => ({
        what: `lab down: a state file planted in ${String(what)}`,
        run: async () => {
          const d = dir(mode as number, uid as number | undefined);
          const canary = path.join(work, `canary${n++}`);
          mkdirSync(canary);
          const r = await labDown(d, canary);
          if (!existsSync(canary)) return { ok: false, why: `lab down removed ${canary}, which the planted state file listed` };
          if (r.code === 0 || !/E_LAB_STATE|refusing/.test(r.out))
            return { ok: false, why: `lab down exited ${r.code} without refusing: ${r.out.slice(-200)}` };
          return { ok: true };
        },
      })),
    ];
    if (!asRoot) log('lab: not root, so folders owned by another uid cannot be planted; those variants are not run');
    await runFamily(report, log, 'lab: planted state dir', {
      control: {
        what: 'a new path is created 0700; our own 0700 folder is taken; lab down acts on a state file there',
        run: async () => {
          const fresh = prepareGivenStateDir(path.join(work, `new${n++}`));
          if ((statSync(fresh).mode & 0o777) !== 0o700)
            return { ok: false, why: `a new state dir is ${(statSync(fresh).mode & 0o777).toString(8)}` };
          prepareGivenStateDir(dir(0o700));
          const d = dir(0o700);
          const canary = path.join(work, `canary${n++}`);
          mkdirSync(canary);
          const r = await labDown(d, canary);
          if (existsSync(canary))
            return { ok: false, why: `lab down in a trusted folder did not remove its canary (exit ${r.code}: ${r.out.slice(-200)})` };
          return { ok: true };
        },
      },
      rounds,
      variants,
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
