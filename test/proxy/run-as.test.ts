// `meshgate proxy --run-as UID:GID` (the daemon pattern): started as root, the proxy drops to the
// proxy's user before it opens any socket, so capture's `--uid-owner 1337` sees its upstream sockets
// as the proxy's; and when a file it keeps reading is out of that user's reach it says which.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import { formatNodeId } from '../../src/envoy/node.js';
import type { Cluster, Listener } from '../../src/envoy/envoy-types.js';
import { parseRunAs, RunAsError } from '../../src/proxy/run-as.js';
import { startControlPlane } from './control-plane-fixture.js';
import { closedPort, echoServer, staticCluster, tcpProxyFilter, waitFor } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const compiled = import.meta.url.endsWith('.js');
const command = path.resolve(here, '../../src/cli', compiled ? 'proxy.js' : 'proxy.ts');
const runner = `import { Command } from 'commander'; import { registerProxyCommand } from ${JSON.stringify(command)};
const p = new Command('meshgate'); registerProxyCommand(p); await p.parseAsync(process.argv.slice(1), { from: 'user' });`;
const PROXY_UID = 1337;
const notRoot =
  typeof process.getuid !== 'function' || process.getuid() !== 0 ? 'needs root (the proxy starts as root and drops to uid 1337)' : false;

test('--run-as parses UID:GID and UID alone, and refuses anything else with E_PROXY_RUN_AS', () => {
  assert.deepEqual(parseRunAs('1337:1337'), { uid: 1337, gid: 1337 });
  assert.deepEqual(parseRunAs('1337'), { uid: 1337, gid: 1337 });
  assert.deepEqual(parseRunAs('1000:2000'), { uid: 1000, gid: 2000 });
  for (const bad of ['istio-proxy', '1337:', ':1337', '-1:0', '1337:1337:1', '4294967295']) {
    assert.throws(
      () => parseRunAs(bad),
      (e: unknown) => e instanceof RunAsError && e.code === 'E_PROXY_RUN_AS',
      bad,
    );
  }
});

async function bootstrapDir(
  t: { after(fn: () => void): void },
  cp: Awaited<ReturnType<typeof startControlPlane>>,
  lport: number,
  echoPort: number,
): Promise<{ dir: string; file: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-run-as-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'root-cert.pem'), cp.ca.rootBundlePem(), { mode: 0o600 });
  writeFileSync(path.join(dir, 'token'), await cp.tokens.mint({ namespace: 'app', serviceAccount: 'client', ttlSeconds: 600 }), {
    mode: 0o600,
  });
  const n = { role: 'sidecar' as const, ips: ['127.0.0.1'], podName: 'client-0', namespace: 'app', domainSuffix: 'cluster.local' };
  const id = formatNodeId(n);
  const file = path.join(dir, 'bootstrap.json');
  writeFileSync(
    file,
    JSON.stringify({
      node: { ...n, id, serviceAccount: 'client', labels: { app: 'client' }, clusterId: 'cluster-a' },
      discoveryAddress: cp.address,
      rootCertFile: 'root-cert.pem',
      tokenFile: 'token',
      trustDomain: 'cluster.local',
      admin: { address: '127.0.0.1', port: 0 },
      drainTimeoutSeconds: 1,
      accessLog: { path: 'access.log', format: 'json' },
    }),
    { mode: 0o600 },
  );
  const cluster: Cluster = staticCluster('outbound|7|echo', [{ port: echoPort }]);
  const l: Listener = {
    name: `127.0.0.1_${lport}`,
    address: { socketAddress: { address: '127.0.0.1', portValue: lport } },
    filterChains: [{ filters: [tcpProxyFilter(cluster.name)] }],
  };
  cp.cache.setSnapshot(id, snapshotFromResources('1', { listeners: [l], clusters: [cluster], endpoints: [], secrets: [] }));
  return { dir, file };
}

function startProxy(
  t: { after(fn: () => void): void },
  bootstrap: string,
): { child: ReturnType<typeof spawn>; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    [
      ...(compiled ? [] : ['--import', 'tsx']),
      '--input-type=module',
      '-e',
      runner,
      'proxy',
      '--bootstrap',
      bootstrap,
      '--run-as',
      `${PROXY_UID}:${PROXY_UID}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: path.resolve(here, '../..') },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stderr: () => stderr, exited };
}

/** The owner uid of each TCP socket in /proc/net/tcp, by "local port -> remote port". */
function tcpSocketOwners(): { local: number; remote: number; uid: number }[] {
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => {
      const f = line.trim().split(/\s+/);
      return { local: Number.parseInt(f[1]!.split(':')[1]!, 16), remote: Number.parseInt(f[2]!.split(':')[1]!, 16), uid: Number(f[7]) };
    });
}

test(
  'proxy --run-as 1337:1337 started as root: reads its root-only start-up files, then serves as uid 1337 with no capabilities, its upstream sockets owned by 1337',
  { skip: notRoot, timeout: 60_000 },
  async (t) => {
    const cp = await startControlPlane(t);
    const echo = await echoServer(t);
    const lport = await closedPort();
    const { dir, file } = await bootstrapDir(t, cp, lport, echo.port);
    // The bootstrap and the mesh root stay root's (0600): read before the drop. The pod's folder lets
    // 1337 through and the token is 1337's, as the lab makes them: the token is read after the drop.
    chmodSync(dir, 0o755);
    chownSync(path.join(dir, 'token'), PROXY_UID, PROXY_UID);
    const proxy = startProxy(t, file);
    await waitFor(() => /admin on 127\.0\.0\.1:\d+/.test(proxy.stderr()), 20_000, `the admin line; got: ${proxy.stderr().slice(-800)}`);
    const adminPort = Number(/admin on 127\.0\.0\.1:(\d+)/.exec(proxy.stderr())![1]);
    await waitFor(
      async () =>
        (await fetch(`http://127.0.0.1:${adminPort}/ready`).then(
          (r) => r.status,
          () => 0,
        )) === 200,
      15_000,
      'ready',
    );
    assert.match(proxy.stderr(), /running as uid 1337, gid 1337/);

    const status = readFileSync(`/proc/${proxy.child.pid}/status`, 'utf8');
    const field = (name: string): string => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)![1]!.trim();
    assert.deepEqual(field('Uid').split(/\s+/), ['1337', '1337', '1337', '1337'], 'real, effective, saved and fs uid');
    assert.deepEqual(field('Gid').split(/\s+/), ['1337', '1337', '1337', '1337']);
    assert.equal(field('Groups'), '', 'no supplementary groups');
    assert.equal(BigInt(`0x${field('CapEff')}`), 0n, 'no effective capability');
    assert.equal(BigInt(`0x${field('CapPrm')}`), 0n, 'no permitted capability (no way back to root)');

    // A connection through the proxy: its upstream socket (ephemeral port -> the echo server) is what
    // capture's owner match looks at.
    const open = net.connect({ host: '127.0.0.1', port: lport });
    t.after(() => open.destroy());
    open.write('ping');
    const echoed = await new Promise<string>((r) => open.once('data', (d: Buffer) => r(d.toString())));
    assert.equal(echoed, 'ping');
    const upstream = tcpSocketOwners().filter((s) => s.remote === echo.port);
    assert.ok(upstream.length >= 1, 'the proxy has an upstream connection to the echo server');
    for (const s of upstream) assert.equal(s.uid, PROXY_UID, `socket ${s.local} -> ${s.remote} is owned by uid 1337`);
    const downstream = tcpSocketOwners().filter((s) => s.local === lport && s.remote !== 0);
    assert.ok(
      downstream.every((s) => s.uid === PROXY_UID),
      'its listener (and the accepted connection) too',
    );
    open.end();
    proxy.child.kill('SIGTERM');
    assert.equal(await proxy.exited, 0, proxy.stderr().slice(-800));
  },
);

test(
  'proxy --run-as: a token uid 1337 cannot read after the drop fails at start with E_PROXY_RUN_AS naming the file',
  { skip: notRoot, timeout: 60_000 },
  async (t) => {
    const cp = await startControlPlane(t);
    const echo = await echoServer(t);
    const { dir, file } = await bootstrapDir(t, cp, await closedPort(), echo.port);
    // mkdtemp's 0700, root's: as a checkout or state dir under /root would be.
    const proxy = startProxy(t, file);
    const code = await proxy.exited;
    assert.notEqual(code, 0);
    assert.match(proxy.stderr(), /E_PROXY_RUN_AS/);
    assert.ok(proxy.stderr().includes(`cannot read its workload token ${path.join(dir, 'token')} (EACCES)`), proxy.stderr().slice(-800));
  },
);
