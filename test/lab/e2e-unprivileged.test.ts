// `npm start` on a fresh machine as a user other than root: no MariaDB (hidden in a mount namespace of
// the test's own), no network namespaces, and net.ipv4.ip_unprivileged_port_start above 443, so the
// sidecars cannot bind the default gateways' Service ports 80 and 443 on their loopback address. The
// proxies leave those listeners out (as Envoy does) and report them; the lab still becomes ready and the
// `lab sql` line it prints returns a row through the chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pidAlive, terminatePid } from '../../src/lab/child-exit.js';
import { builtCli, EXAMPLE, eventually } from './e2e-helpers.js';
import { repoRoot } from '../repo-root.js';

const NOBODY = 65534;
const MARIADB_BINARIES = ['mariadbd', 'mariadb-install-db', 'mariadb']
  .flatMap((n) => ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'].map((d) => path.join(d, n)))
  .filter((f) => existsSync(f));

function unprivilegedPortStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  } catch {
    return 1024;
  }
}
const tools = ['setpriv', 'unshare'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
const skip =
  builtCli() ||
  (typeof process.getuid !== 'function' || process.getuid() !== 0
    ? 'needs root to start the lab as uid 65534 with MariaDB hidden'
    : false) ||
  (tools.length > 0 ? `needs ${tools.join(', ')} (util-linux)` : false) ||
  (unprivilegedPortStart() <= 443
    ? `net.ipv4.ip_unprivileged_port_start is ${unprivilegedPortStart()}: this host lets any user bind 80 and 443`
    : false);

/** What `npm ci` leaves that the loopback lab reads, copied where uid 65534 may read it: dist, package.json, node_modules, the example. */
function readableCheckout(dir: string): string {
  const co = path.join(dir, 'meshgate');
  mkdirSync(co, { mode: 0o755 });
  const root = repoRoot();
  cpSync(path.join(root, 'dist'), path.join(co, 'dist'), { recursive: true });
  cpSync(path.join(root, 'package.json'), path.join(co, 'package.json'));
  cpSync(EXAMPLE(), path.join(co, 'examples', 'mysql-cross-cluster'), { recursive: true });
  const nm = path.join(root, 'node_modules');
  if (spawnSync('cp', ['-al', `${nm}/.`, path.join(co, 'node_modules')], { timeout: 60_000 }).status !== 0) {
    rmSync(path.join(co, 'node_modules'), { recursive: true, force: true });
    cpSync(nm, path.join(co, 'node_modules'), { recursive: true, dereference: true });
  }
  return co;
}

/** Runs a shell command as uid/gid 65534 with no supplementary groups, in a mount namespace where MariaDB's programs are not executable. */
function asNobody(script: string, cwd: string, home: string, timeout: number): { status: number | null; stdout: string; stderr: string } {
  const hide = MARIADB_BINARIES.map((f) => `mount --bind /dev/null ${f}`).join(' && ') || 'true';
  const inner = `${hide} && exec setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups -- env HOME=${home} PATH=${path.dirname(process.execPath)}:/usr/bin:/bin sh -c "$0"`;
  return spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', inner, script], { cwd, encoding: 'utf8', timeout });
}

test(
  'npm start as uid 65534 without MariaDB, ports below 1024 reserved to root: the lab becomes ready, its printed "lab sql" returns a row, and the sidecars report 80 and 443 as not bound',
  { skip, timeout: 300_000 },
  async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-unprivileged-'));
    const home = path.join(dir, 'home');
    const stateDir = path.join(home, 'state');
    let co = '';
    const started: { child?: ChildProcess } = {};
    t.after(async () => {
      try {
        const c = started.child;
        if (c && c.exitCode === null && c.signalCode === null) {
          // lab up runs as another user under unshare: SIGTERM the lab up process itself, by its recorded pid.
          const owner = existsSync(path.join(stateDir, 'lab-state.json'))
            ? (JSON.parse(readFileSync(path.join(stateDir, 'lab-state.json'), 'utf8')) as { ownerPid?: number }).ownerPid
            : undefined;
          if (owner !== undefined && pidAlive(owner)) process.kill(owner, 'SIGTERM');
          await Promise.race([new Promise((r) => c.once('exit', r)), new Promise((r) => setTimeout(r, 60_000))]);
          if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        }
        if (existsSync(path.join(stateDir, 'lab-state.json'))) {
          // lab down as the lab's owner (the state dir is trusted only by its owner); then any recorded
          // process still there is stopped by its pid.
          asNobody(`node dist/src/cli/main.js lab down --state-dir ${stateDir}`, co, home, 120_000);
          const recorded = JSON.parse(readFileSync(path.join(stateDir, 'lab-state.json'), 'utf8')) as {
            resources: { kind: string; pid?: number }[];
          };
          for (const r of recorded.resources)
            if (r.kind === 'process' && r.pid !== undefined && pidAlive(r.pid)) await terminatePid(r.pid, 5_000);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    chmodSync(dir, 0o755);
    co = readableCheckout(dir);
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, NOBODY, NOBODY);
    // The premise: as this user MariaDB is not there and 443 cannot be bound.
    const premise = asNobody(
      `id -u; node -e "require('net').createServer().once('error', (e) => { console.log(e.code); process.exit(0) }).listen(443, '127.0.0.1', () => { console.log('bound'); process.exit(0) })"; test -x /usr/sbin/mariadbd && echo mariadbd || echo no-mariadbd`,
      co,
      home,
      30_000,
    );
    assert.deepEqual(premise.stdout.trim().split('\n'), [String(NOBODY), 'EACCES', 'no-mariadbd'], premise.stderr);

    // npm start's command, in the foreground as npm runs it: it comes up, runs its first query through
    // the chain (as lab verify), prints the next steps and stays until SIGTERM.
    const hide = MARIADB_BINARIES.map((f) => `mount --bind /dev/null ${f}`).join(' && ') || 'true';
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        `${hide} && exec setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups -- env HOME=${home} PATH=${path.dirname(process.execPath)}:/usr/bin:/bin node dist/src/cli/main.js lab up examples/mysql-cross-cluster --state-dir ${stateDir}`,
      ],
      { cwd: co, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    started.child = child;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await eventually('lab up as uid 65534 says it is running', 240_000, async () => {
      if (child.exitCode !== null) throw new Error(`lab up as uid ${NOBODY} exited ${child.exitCode}:\n${stderr.slice(-3000)}`);
      return stderr.includes('lab is running; Ctrl-C stops it') ? true : undefined;
    });
    const up = { stdout };
    assert.match(up.stdout, /is ready in loopback mode/);
    assert.match(up.stdout, /postgres-embedded/);
    assert.match(up.stdout, /lab verify \(loopback mode\): PASSED/);
    const printed = /^query: +(.+?) +# through the chain, with node-postgres$/m.exec(up.stdout)?.[1];
    assert.ok(printed, `a "lab sql" line in:\n${up.stdout}`);
    const sql = asNobody(printed.replace('"SELECT 1"', `"SELECT 40 + 2 AS answer, 'through the chain'"`), co, home, 60_000);
    assert.equal(sql.status, 0, sql.stderr);
    assert.equal(sql.stdout, '42\tthrough the chain\n');

    // What the client sidecar could not bind is on record: its config_dump's error_state, the counter.
    const admin = /^cluster-a\/default\/mysql-client +sidecar +(\S+) +(http:\/\/\S+)$/m.exec(up.stdout);
    assert.ok(admin, up.stdout);
    const [, podIp, adminUrl] = admin;
    const dump = (await (await fetch(`${adminUrl}/config_dump`)).json()) as {
      configs: { '@type': string; dynamicListeners?: { name: string; activeState?: object; errorState?: { details: string } }[] }[];
    };
    const ls = dump.configs.find((c) => c['@type'].endsWith('ListenersConfigDump'))!.dynamicListeners!;
    for (const p of [80, 443]) {
      const l = ls.find((x) => x.name === `${podIp}_${p}`);
      assert.ok(l && !l.activeState && /listen EACCES/.test(l.errorState?.details ?? ''), `${podIp}_${p}: ${JSON.stringify(l)}`);
    }
    assert.ok(
      ls.some((l) => l.name === `${podIp}_3306` && l.activeState),
      'the listener the client uses serves',
    );
    const prom = await (await fetch(`${adminUrl}/stats/prometheus`)).text();
    assert.match(
      prom,
      new RegExp(`meshgate_proxy_listener_create_failures_total\\{listener="${podIp.replaceAll('.', '\\.')}_443",reason="EACCES"\\} [1-9]`),
    );

    // Ctrl-C's job: SIGTERM to lab up (its recorded pid) tears down every process it recorded.
    const state = JSON.parse(readFileSync(path.join(stateDir, 'lab-state.json'), 'utf8')) as {
      ownerPid: number;
      resources: { kind: string; pid?: number }[];
    };
    const pids = state.resources.flatMap((r) => (r.kind === 'process' && r.pid !== undefined ? [r.pid] : []));
    assert.ok(pids.length >= 8, JSON.stringify(state.resources));
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(state.ownerPid, 'SIGTERM');
    await exited;
    for (const pid of pids) assert.equal(pidAlive(pid), false, `pid ${pid} is gone after SIGTERM`);
  },
);
