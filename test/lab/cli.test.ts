import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findExecutable } from '../../src/capture/command.js';
import { pidAlive } from '../../src/lab/child-exit.js';
import { fullLabHint, meshgateInvocation } from '../../src/lab/lab-hints.js';
import { downLab } from '../../src/lab/lab.js';
import { unboundListenersHint, unboundListenersOf } from '../../src/lab/unbound-listeners.js';
import { LabState } from '../../src/lab/lab-state.js';
import { repoRoot } from '../repo-root.js';
import { builtCli, EXAMPLE, eventually } from './e2e-helpers.js';

const cli = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [path.join(repoRoot(), 'dist/src/cli/main.js'), ...args], { encoding: 'utf8', timeout: 60_000 });

test('lab up refuses an invalid lab file with its file, line and field, and exits non-zero', { skip: builtCli() }, (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-lab-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'lab.yaml'), 'clusters:\n  - name: a\n    trustDomian: x\n');
  const r = cli(['lab', 'up', dir, '--mode', 'loopback', '--state-dir', path.join(dir, 'state')]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /\[E_LAB_FILE\] .*lab\.yaml:2: clusters\.0: .*trustDomian/);
});

test('lab status and lab down say clearly when there is no lab in the state dir', { skip: builtCli() }, (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-lab-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['status', 'down']) {
    const r = cli(['lab', sub, '--state-dir', dir]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /\[E_LAB_STATE\] no lab state in/);
  }
  const bad = cli(['lab', 'up', dir, '--mode', 'sideways']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--mode must be netns or loopback/);
});

test('the full-lab hint names the fallback and the packages to install, and is absent for a lab that asked for its mode', () => {
  const hint = fullLabHint({ mode: 'loopback', modeReason: 'network namespaces need root', workloads: [] });
  assert.ok(hint);
  assert.match(hint, /loopback mode \(network namespaces need root\)/);
  assert.match(hint, /as root, apt-get install mariadb-server mariadb-client iptables iproute2 tcpdump/);
  assert.equal(fullLabHint({ mode: 'loopback', modeReason: 'requested', workloads: [] }), undefined);
  assert.equal(fullLabHint({ mode: 'netns', modeReason: 'root with ip and iptables', workloads: [] }), undefined);
  // Outside the checkout npx would look for a package named meshgate on the registry: the full path instead.
  if (findExecutable('meshgate') === undefined) {
    assert.equal(meshgateInvocation(repoRoot()), 'npx meshgate');
    assert.equal(meshgateInvocation(os.tmpdir()), `node ${path.join(repoRoot(), 'dist/src/cli/main.js')}`);
  }
});

test('listeners the proxies could not bind: read from config_dump error_state (not those still running an earlier version), named with errno and, for EACCES, the sysctl that allows them', () => {
  const failed = (name: string, address: string, port: number, details: string, active = false): Record<string, unknown> => ({
    name,
    ...(active ? { activeState: { listener: { name } } } : {}),
    errorState: {
      details,
      failedConfiguration: {
        '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener',
        name,
        address: { socketAddress: { address, portValue: port } },
      },
    },
  });
  const dump = {
    configs: [
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
        dynamicListeners: [
          { name: '127.184.1.10_3306', activeState: { listener: {} } },
          failed(
            '127.184.1.10_443',
            '127.184.1.10',
            443,
            'listener "127.184.1.10_443": cannot bind 127.184.1.10:443: listen EACCES: permission denied 127.184.1.10:443',
          ),
          failed(
            '127.184.1.10_80',
            '127.184.1.10',
            80,
            'listener "127.184.1.10_80": cannot bind 127.184.1.10:80: listen EACCES: permission denied 127.184.1.10:80',
          ),
          failed(
            '127.184.1.10_9000',
            '127.184.1.10',
            9001,
            'listener "127.184.1.10_9000": cannot bind 127.184.1.10:9001: listen EADDRINUSE: address already in use',
            true,
          ),
        ],
      },
    ],
  };
  const unbound = unboundListenersOf('cluster-a/default/mysql-client', dump);
  assert.deepEqual(
    unbound.map((u) => `${u.listener} ${u.address} ${u.errno}`),
    ['127.184.1.10_443 127.184.1.10:443 EACCES', '127.184.1.10_80 127.184.1.10:80 EACCES'],
  );
  const hint = unboundListenersHint(unbound, 1024)!;
  assert.equal(
    hint,
    '2 listener(s) could not bind and are left out; their proxies serve the rest: cluster-a/default/mysql-client 127.184.1.10:443 (EACCES), 127.184.1.10:80 (EACCES). Ports below 1024 need root (net.ipv4.ip_unprivileged_port_start); to have them too: sudo sysctl -w net.ipv4.ip_unprivileged_port_start=0, or run the lab as root.',
  );
  assert.equal(unboundListenersHint([]), undefined);
  assert.doesNotMatch(unboundListenersHint([{ proxy: 'p', listener: 'l', address: '127.0.0.1:9', errno: 'EADDRINUSE' }])!, /sysctl/);
});

test(
  'npm start\'s job (lab up in the foreground, embedded PostgreSQL): prints the three legs of a first query, a "lab sql" line that works as printed, and tears down when SIGTERM kills its shell',
  { skip: builtCli(), timeout: 240_000 },
  async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-lab-start-'));
    const stateDir = path.join(dir, 'state');
    const started: { child?: ChildProcess } = {};
    t.after(async () => {
      try {
        const c = started.child;
        if (c && c.exitCode === null && c.signalCode === null) {
          c.kill('SIGTERM');
          await new Promise((r) => c.once('exit', r));
        }
        if (existsSync(path.join(stateDir, 'lab-state.json')) && LabState.load(stateDir).value.resources.length > 0)
          await downLab(stateDir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    cpSync(EXAMPLE(), path.join(dir, 'lab'), { recursive: true });
    const labFile = path.join(dir, 'lab', 'lab.yaml');
    writeFileSync(labFile, readFileSync(labFile, 'utf8').replace('builtin: database-server', 'builtin: postgres-embedded'));
    // Under a shell that does not pass SIGTERM on, as `npm start` runs it (npm's `sh -c`): killing the
    // shell must still stop the lab.
    const child = spawn(
      'sh',
      [
        '-c',
        '"$@"; :',
        'sh',
        process.execPath,
        path.join(repoRoot(), 'dist/src/cli/main.js'),
        'lab',
        'up',
        path.join(dir, 'lab'),
        '--mode',
        'loopback',
        '--state-dir',
        stateDir,
      ],
      { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    started.child = child;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await eventually('lab up in the foreground says it is running', 200_000, async () => {
      if (child.exitCode !== null) throw new Error(`lab up exited ${child.exitCode}:\n${stderr.slice(-3000)}`);
      return stderr.includes('lab is running; Ctrl-C stops it') ? true : undefined;
    });

    assert.match(stdout, /lab verify \(loopback mode\): PASSED/);
    assert.match(stdout, /query via node-postgres: ok/);
    const legs = [...stdout.matchAll(/^ {4}(\S+) -> (\S+)$/gm)].map((m) => `${m[1]} -> ${m[2]}`);
    assert.deepEqual(legs, [
      'cluster-a/default/mysql-client -> cluster-a/istio-system/istio-egressgateway',
      'cluster-a/istio-system/istio-egressgateway -> cluster-b/istio-system/istio-ingressgateway',
      'cluster-b/istio-system/istio-ingressgateway -> cluster-b/default/mysql',
    ]);
    assert.equal([...stdout.matchAll(/^ {6}TLSv1\.3 /gm)].length, 3, 'each leg is TLS 1.3');
    assert.doesNotMatch(stdout, /mariadb --no-defaults/, 'no mariadb command for a lab without MariaDB');

    // The next step exactly as printed, run from the checkout as a person would.
    const printed = /^query: +(.+?) +# through the chain, with node-postgres$/m.exec(stdout)?.[1];
    assert.ok(printed, `a "lab sql" line in:\n${stdout}`);
    assert.match(printed, /lab sql --state-dir \S+ "SELECT 1"$/);
    const sql = spawnSync('sh', ['-c', printed.replace('"SELECT 1"', `"SELECT 40 + 2 AS answer, 'through the chain'"`)], {
      cwd: repoRoot(),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(sql.status, 0, sql.stderr);
    assert.equal(sql.stdout, '42\tthrough the chain\n');

    const pids = LabState.load(stateDir).value.resources.flatMap((r) => (r.kind === 'process' ? [r.pid] : []));
    assert.ok(pids.length >= 8);
    const labUp = LabState.load(stateDir).value.ownerPid;
    child.kill('SIGTERM');
    await exited;
    await eventually('lab up, orphaned by the shell, tears the lab down', 60_000, async () => (pidAlive(labUp) ? undefined : true));
    assert.match(stderr, /the process that started lab up \(pid \d+\) exited; stopping the lab/);
    for (const pid of pids) assert.equal(pidAlive(pid), false, `pid ${pid} is gone after the shell's SIGTERM`);
  },
);
