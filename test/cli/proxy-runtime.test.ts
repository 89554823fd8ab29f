// `meshgate proxy --runtime bun`: the CLI runs the same command under Bun's binary (from the optional
// dependency @oven/bun-linux-x64). A real proxy started that way gets its workload certificate from the
// control plane's CA and its config over ADS (gRPC under Bun), serves TLS with that certificate, and on
// SIGTERM to the parent drains and exits 0; a failing child's exit code comes back through the parent.
// Skipped, with the reason, where Bun is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import type { Cluster, Listener } from '../../src/envoy/envoy-types.js';
import { BUN_PACKAGE, bunBinary, bunUnavailableReason, currentRuntime, meshgateArgv, RuntimeError } from '../../src/shared/runtime.js';
import { argsWithoutRuntime, requestedRuntime } from '../../src/cli/runtime-exec.js';
import { startControlPlane, writeSidecarBootstrap } from '../proxy/control-plane-fixture.js';
import { closedPort, downstreamTls, echoServer, staticCluster, tcpProxyFilter, waitFor } from '../proxy/helpers.js';
import { repoRoot } from '../repo-root.js';

const noBun = bunUnavailableReason();
const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

test('argsWithoutRuntime drops --runtime X and --runtime=X and keeps everything else in order', () => {
  assert.deepEqual(argsWithoutRuntime(['proxy', '--runtime', 'bun', '--bootstrap', 'b.yaml', '--runtime=node', '--run-as', '1337:1337']), [
    'proxy',
    '--bootstrap',
    'b.yaml',
    '--run-as',
    '1337:1337',
  ]);
  assert.deepEqual(
    argsWithoutRuntime(['proxy', '--', '--runtime', 'x']),
    ['proxy', '--', '--runtime', 'x'],
    'after -- nothing is an option',
  );
  assert.equal(requestedRuntime(['--runtime', 'bun', '--bootstrap', 'b', '--runtime=node']), 'node', 'the last one wins, as commander');
  assert.equal(requestedRuntime(['--bootstrap', 'b', '--', '--runtime', 'bun']), undefined);
});

test('without the Bun package the error names the package and how to get it', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'meshgate-no-bun-'));
  try {
    assert.throws(
      () => bunBinary(root, {}),
      (err: unknown) =>
        err instanceof RuntimeError && err.code === 'E_RUNTIME_MISSING' && err.message.includes(BUN_PACKAGE) && /npm ci/.test(err.message),
    );
    assert.throws(
      () => bunBinary(root, { MESHGATE_BUN_BINARY: path.join(root, 'nope') }),
      (err: unknown) => err instanceof RuntimeError && err.message.includes('MESHGATE_BUN_BINARY'),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an unknown --runtime is refused by the CLI with the runtimes it knows', () => {
  const r = spawnSync(process.execPath, [main, 'proxy', '--runtime', 'deno', '--bootstrap', 'x'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown runtime "deno" \(runtimes: node, bun\)/);
});

test('meshgate proxy --runtime bun passes the exit code of a failing proxy through', { skip: noBun }, () => {
  const r = spawnSync(process.execPath, [main, 'proxy', '--runtime', 'bun', '--bootstrap', '/nonexistent/bootstrap.yaml'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /nonexistent\/bootstrap\.yaml/);
});

test(
  'meshgate proxy --runtime bun: certificate and config from the control plane, serves TLS, drains on SIGTERM',
  { skip: noBun },
  async (t) => {
    const cp = await startControlPlane(t);
    const echo = await echoServer(t);
    const { id, bootstrap } = await writeSidecarBootstrap(t, cp, {
      podName: 'db-0',
      namespace: 'app',
      serviceAccount: 'db',
      prefix: 'meshgate-proxy-bun-',
    });
    const lport = await closedPort();
    const cluster: Cluster = staticCluster('inbound|7||', [{ port: echo.port }]);
    // The workload certificate (SDS "default", from the agent) serves TLS; no client certificate is asked for.
    const l: Listener = {
      name: `127.0.0.1_${lport}`,
      address: { socketAddress: { address: '127.0.0.1', portValue: lport } },
      filterChains: [{ transportSocket: downstreamTls({ requireClientCert: false, ca: '' }), filters: [tcpProxyFilter(cluster.name)] }],
    };
    cp.cache.setSnapshot(id, snapshotFromResources('1', { listeners: [l], clusters: [cluster], endpoints: [], secrets: [] }));

    const child = spawn(process.execPath, [main, 'proxy', '--runtime', 'bun', '--bootstrap', bootstrap], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.resume();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // The Bun process, found before anything is killed: the parent's child, or the process itself under Bun.
    const bun: { pid?: number } = {};
    t.after(() => {
      if (bunPid !== undefined)
        try {
          process.kill(bunPid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await waitFor(() => /admin on 127\.0\.0\.1:\d+/.test(stderr), 30_000, `the admin line in the proxy's log; got: ${stderr.slice(-500)}`);
    const bunPid =
      currentRuntime() === 'bun'
        ? child.pid!
        : Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    bun.pid = bunPid;
    assert.equal(realpathSync(readlinkSync(`/proc/${bunPid}/exe`)), realpathSync(bunBinary()), 'the proxy process is Bun');
    assert.equal(meshgateArgv('bun')[0], currentRuntime() === 'bun' ? process.execPath : bunBinary());

    const adminPort = Number(/admin on 127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
    await waitFor(
      async () =>
        (await fetch(`http://127.0.0.1:${adminPort}/ready`).then(
          (r) => r.status,
          () => 0,
        )) === 200,
      20_000,
      `ready; log: ${stderr.slice(-500)}`,
    );
    const { peerSan, echoed, protocol } = await new Promise<{ peerSan: string; echoed: string; protocol: string }>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: lport, ca: cp.ca.rootBundlePem(), checkServerIdentity: () => undefined }, () => {
        const cert = s.getPeerX509Certificate();
        const peerSan = cert ? (new X509Certificate(cert.raw).subjectAltName ?? '') : '';
        const protocol = s.getProtocol() ?? '';
        s.write('through bun');
        s.once('data', (d: Buffer) => {
          resolve({ peerSan, echoed: d.toString(), protocol });
          s.end();
        });
      });
      s.on('error', reject);
    });
    assert.equal(protocol, 'TLSv1.3');
    assert.equal(peerSan, 'URI:spiffe://cluster.local/ns/app/sa/db', 'the workload certificate the Bun proxy got from the CA');
    assert.equal(echoed, 'through bun');

    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr.slice(-1000));
    assert.match(stderr, /SIGTERM: draining/, 'the signal reached the Bun process');
    assert.throws(() => process.kill(bunPid, 0), 'the Bun process is gone');
  },
);
