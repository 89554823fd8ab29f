// The netns lab run from a checkout only root can read (cloned under /root, mode 0700): the proxies
// start as root, load the code, addon and start-up files, then drop to uid 1337 themselves; capture's
// owner match still exempts their traffic, so a query crosses the whole chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { downLab, type LabSummary } from '../../src/lab/lab.js';
import type { VerifyReport } from '../../src/lab/verify.js';
import { netnsModeAvailable } from '../../src/lab/netns-topology.js';
import { pidAlive } from '../../src/lab/child-exit.js';
import { builtCli, EXAMPLE } from './e2e-helpers.js';
import { repoRoot } from '../repo-root.js';

const netns = netnsModeAvailable();
const addon = path.join(repoRoot(), 'build', 'Release', 'original_dst.node');
const skip = builtCli() || (netns.ok ? false : netns.reason) || (existsSync(addon) ? false : `${addon} is not built (npm ci)`);

/** What `npm ci` leaves in a checkout, copied under `dir`: dist, package.json, the addon, node_modules, the example. */
function privateCheckout(dir: string): string {
  const co = path.join(dir, 'meshgate');
  mkdirSync(co, { mode: 0o755 });
  const root = repoRoot();
  cpSync(path.join(root, 'dist'), path.join(co, 'dist'), { recursive: true });
  cpSync(path.join(root, 'package.json'), path.join(co, 'package.json'));
  mkdirSync(path.join(co, 'build', 'Release'), { recursive: true });
  cpSync(addon, path.join(co, 'build', 'Release', 'original_dst.node'));
  cpSync(EXAMPLE(), path.join(co, 'examples', 'mysql-cross-cluster'), { recursive: true });
  // node_modules by hard links (instant, same file system), else a copy: a symlink would let Node
  // resolve modules to the world-readable original and hide a module loaded after the drop.
  const nm = path.join(root, 'node_modules');
  if (spawnSync('cp', ['-al', `${nm}/.`, path.join(co, 'node_modules')], { timeout: 60_000 }).status !== 0) {
    rmSync(path.join(co, 'node_modules'), { recursive: true, force: true });
    cpSync(nm, path.join(co, 'node_modules'), { recursive: true, dereference: true });
  }
  return co;
}

test(
  'netns lab from a 0700 checkout: proxies load as root and drop to uid 1337, capture still exempts them, lab verify passes',
  { skip, timeout: 300_000 },
  async (t) => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'meshgate-private-home-'));
    const stateParent = mkdtempSync(path.join(os.tmpdir(), 'meshgate-private-state-'));
    const stateDir = path.join(stateParent, 'state');
    t.after(async () => {
      try {
        if (existsSync(path.join(stateDir, 'lab-state.json'))) await downLab(stateDir);
      } finally {
        rmSync(home, { recursive: true, force: true });
        rmSync(stateParent, { recursive: true, force: true });
      }
    });
    assert.equal(statSync(home).mode & 0o777, 0o700);
    // The state dir is the lab's choice and must let the proxies through; the checkout is the user's.
    chmodSync(stateParent, 0o755);
    const co = privateCheckout(home);
    const main = path.join(co, 'dist', 'src', 'cli', 'main.js');
    const cliPids: number[] = [];
    // The logs a failed lab up keeps (named by the CLI's pid) go too.
    t.after(() => {
      for (const pid of cliPids) rmSync(path.join(os.tmpdir(), `meshgate-lab-failed-${pid}-logs`), { recursive: true, force: true });
    });
    const cli = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
      const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 240_000, cwd: co });
      if (r.pid) cliPids.push(r.pid);
      return r;
    };

    // The premise: uid 1337 cannot load this checkout (what starting the proxy as 1337 did).
    const as1337 = spawnSync('setpriv', ['--reuid=1337', '--regid=1337', '--clear-groups', '--', process.execPath, main, '--help'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.notEqual(as1337.status, 0);
    assert.match(as1337.stderr, /Cannot find module|EACCES|permission denied/i);

    const up = cli([
      'lab',
      'up',
      path.join(co, 'examples', 'mysql-cross-cluster'),
      '--mode',
      'netns',
      '--state-dir',
      stateDir,
      '--detach',
      '-o',
      'json',
    ]);
    assert.equal(up.status, 0, `lab up from the 0700 checkout failed:\n${up.stderr.slice(-3000)}`);
    const summary = JSON.parse(up.stdout) as LabSummary;
    assert.equal(summary.mode, 'netns');
    const sidecars = summary.proxies.filter((p) => p.role === 'sidecar');
    assert.ok(sidecars.length >= 2);
    for (const p of summary.proxies) {
      const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
      assert.match(status, /^Uid:\s+1337\s+1337\s+1337\s+1337$/m, `${p.cluster}/${p.namespace}/${p.name} runs as uid 1337`);
      assert.match(status, /^CapEff:\s+0+$/m, `${p.name} has no capability left`);
      const log = readFileSync(
        path.join(stateDir, 'logs', `${`${p.cluster}/${p.namespace}/${p.name}/proxy`.replace(/[^A-Za-z0-9_.-]+/g, '_')}.log`),
        'utf8',
      );
      assert.match(log, /running as uid 1337, gid 1337/);
    }

    // The client's sidecar forwards to the egress gateway from its own namespace, where capture
    // redirects every outbound connection not owned by uid 1337: the query comes back only if the
    // proxy's upstream sockets are 1337's.
    const verify = cli(['lab', 'verify', '--state-dir', stateDir, '-o', 'json']);
    const report = JSON.parse(verify.stdout) as VerifyReport;
    assert.equal(report.passed, true, `verify failed:\n  ${report.failures.join('\n  ')}`);
    assert.equal(report.legs.length, 3);

    const pids = summary.proxies.map((p) => p.pid);
    const down = cli(['lab', 'down', '--state-dir', stateDir]);
    assert.equal(down.status, 0, down.stderr);
    for (const pid of pids) assert.equal(pidAlive(pid), false, `proxy pid ${pid} is gone`);
  },
);

test('npm test from a 0700 checkout: the capture tests whose programs run as uid 1337 pass there too', { skip, timeout: 180_000 }, (t) => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'meshgate-private-home-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const co = privateCheckout(home);
  // Their fixtures start as root and drop to 1337 (test/capture/fixtures/run-as.ts) instead of being
  // started as 1337, which cannot load them from here.
  const files = ['capture-netns', 'dns-netns'].map((f) => path.join(co, 'dist', 'test', 'capture', `${f}.test.js`));
  // A test run of its own (this runner's NODE_TEST_CONTEXT would make it report to us instead).
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...files], { encoding: 'utf8', timeout: 170_000, cwd: co, env });
  assert.equal(r.status, 0, `the capture tests failed from ${co}:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-1000)}`);
  assert.match(r.stdout, /^# fail 0$/m);
  assert.match(r.stdout, /^# skipped 0$/m, 'none skipped: they ran');
  assert.ok(Number(/^# pass (\d+)$/m.exec(r.stdout)?.[1]) >= 5, r.stdout.slice(-2000));
});
