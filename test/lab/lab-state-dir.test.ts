// The lab's state dir: a fresh mkdtemp folder by default, a given one only when it is ours and 0700,
// and state read back (lab down/status/exec/verify) only from folders and files no one else could write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDefaultStateDir, findDefaultStateDirs, prepareGivenStateDir } from '../../src/lab/state-dir.js';
import { LabState } from '../../src/lab/lab-state.js';
import { upLab } from '../../src/lab/lab.js';
import { repoRoot } from '../repo-root.js';
import { builtCli } from './e2e-helpers.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;
const mode = (p: string): number => statSync(p).mode & 0o777;

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-sd-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const cli = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [path.join(repoRoot(), 'dist/src/cli/main.js'), ...args], { encoding: 'utf8', timeout: 60_000 });

test(
  'a given state dir owned by another user is refused, naming the path, the owner and the mode',
  { skip: isRoot ? false : 'needs root to chown a folder to uid 65534' },
  (t) => {
    const planted = path.join(tmp(t), 'state');
    mkdirSync(planted, { mode: 0o700 });
    chownSync(planted, NOBODY, NOBODY);
    assert.throws(
      () => prepareGivenStateDir(planted),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'E_LAB_STATE_DIR');
        assert.match(e.message, new RegExp(`^state dir ${planted} is owned by uid 65534 with mode 0700; the lab runs with uid 0`));
        return true;
      },
    );
  },
);

test('a given state dir of ours with mode 0755 is refused; a symlink is refused; 0700 is accepted', (t) => {
  const base = tmp(t);
  const open = path.join(base, 'open');
  mkdirSync(open);
  chmodSync(open, 0o755);
  assert.throws(
    () => prepareGivenStateDir(open),
    new RegExp(`state dir ${open} is owned by uid ${process.getuid!()} with mode 0755; .*mode 0700 \\(no group or other bits\\)`),
  );
  const closed = path.join(base, 'closed');
  mkdirSync(closed, { mode: 0o700 });
  assert.equal(prepareGivenStateDir(closed), closed);
  const link = path.join(base, 'link');
  symlinkSync(closed, link);
  assert.throws(() => prepareGivenStateDir(link), /is a symbolic link/);
});

test('a missing given state dir and the default one are created 0700, the default with an unpredictable name', (t) => {
  const base = tmp(t);
  const fresh = prepareGivenStateDir(path.join(base, 'a', 'state'));
  assert.equal(mode(fresh), 0o700);
  const d1 = createDefaultStateDir('demo', base);
  const d2 = createDefaultStateDir('demo', base);
  assert.notEqual(d1, d2);
  for (const d of [d1, d2]) {
    assert.match(path.basename(d), /^meshgate-lab-demo-[A-Za-z0-9]{6}$/);
    assert.equal(mode(d), 0o700);
    assert.equal(statSync(d).uid, process.getuid!());
  }
});

test('upLab refuses a planted state dir before it creates anything', async (t) => {
  const planted = path.join(tmp(t), 'state');
  mkdirSync(planted);
  chmodSync(planted, 0o777);
  writeFileSync(path.join(planted, 'planted-key.pem'), 'not ours');
  await assert.rejects(
    upLab({ labFile: path.join(repoRoot(), 'examples', 'mysql-cross-cluster'), mode: 'loopback', stateDir: planted }),
    (e: Error & { code?: string }) => e.code === 'E_LAB_STATE_DIR' && e.message.includes('mode 0777'),
  );
  assert.equal(existsSync(path.join(planted, 'lab-state.json')), false, 'no state was written into it');
});

test(
  'lab down refuses a state file another user planted, and removes nothing it records',
  { skip: isRoot ? builtCli() : 'needs root to chown a file to uid 65534' },
  (t) => {
    const base = tmp(t);
    const victim = path.join(base, 'victim');
    writeFileSync(victim, 'keep me');
    const dir = path.join(base, 'state');
    mkdirSync(dir, { mode: 0o700 });
    const file = path.join(dir, 'lab-state.json');
    writeFileSync(
      file,
      JSON.stringify({
        labId: 'x',
        mode: 'loopback',
        labFile: '/x',
        stateDir: dir,
        ownerPid: 1,
        createdAt: '',
        status: 'ready',
        resources: [{ kind: 'file', path: victim }],
      }),
    );
    chownSync(file, NOBODY, NOBODY);
    const r = cli(['lab', 'down', '--state-dir', dir]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /\[E_LAB_STATE\] refusing to use the lab state in .*lab-state\.json is owned by uid 65534/);
    assert.equal(readFileSync(victim, 'utf8'), 'keep me');
    chmodSync(dir, 0o777);
    chownSync(file, 0, 0);
    const open = cli(['lab', 'status', '--state-dir', dir]);
    assert.match(open.stderr, /refusing to use the lab state in .*owned by uid 0 with mode 0777/);
  },
);

test(
  'lab status finds a default (mkdtemp) state dir from the lab folder, and ignores folders it may not trust',
  { skip: builtCli() },
  (t) => {
    const base = tmp(t);
    const name = `sdtest-${process.pid}`;
    writeFileSync(path.join(base, 'lab.yaml'), `name: ${name}\nclusters:\n  - name: a\n    workloads: []\n`);
    const ours = createDefaultStateDir(name);
    t.after(() => rmSync(ours, { recursive: true, force: true }));
    LabState.create(ours, { labId: 'sd1', mode: 'loopback', labFile: path.join(base, 'lab.yaml'), ownerPid: process.pid });
    chmodSync(ours, 0o711); // as a running lab leaves it
    // A folder of the same shape that others may write is not a candidate (nor one of a lab named `<name>-x`).
    const writable = createDefaultStateDir(name);
    t.after(() => rmSync(writable, { recursive: true, force: true }));
    LabState.create(writable, { labId: 'sd2', mode: 'loopback', labFile: '/x', ownerPid: process.pid });
    chmodSync(writable, 0o777);
    const other = createDefaultStateDir(`${name}-x`);
    t.after(() => rmSync(other, { recursive: true, force: true }));
    LabState.create(other, { labId: 'sd3', mode: 'loopback', labFile: '/x', ownerPid: process.pid });
    assert.deepEqual(findDefaultStateDirs(name), [ours]);
    const r = cli(['lab', 'status', base, '-o', 'json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { stateDir: string; labId: string }).labId, 'sd1');
  },
);
