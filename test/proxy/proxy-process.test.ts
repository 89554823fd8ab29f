// `meshgate proxy --bootstrap FILE` as a real process against an in-test control plane: it becomes
// ready, proxies, and on SIGTERM stops accepting while an open connection finishes, then exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import type { Cluster, Listener } from '../../src/envoy/envoy-types.js';
import { startControlPlane, writeSidecarBootstrap } from './control-plane-fixture.js';
import { closedPort, echoServer, roundTrip, staticCluster, tcpProxyFilter, waitFor } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const compiled = import.meta.url.endsWith('.js');
// The `proxy` sub-command on a fresh commander program (main.ts finds package.json only from dist/).
const command = path.resolve(here, '../../src/cli', compiled ? 'proxy.js' : 'proxy.ts');
const runner = `import { Command } from 'commander'; import { registerProxyCommand } from ${JSON.stringify(command)};
const p = new Command('meshgate'); registerProxyCommand(p); await p.parseAsync(process.argv.slice(1), { from: 'user' });`;

test('meshgate proxy: ready, proxies, drains on SIGTERM and exits 0', async (t) => {
  const cp = await startControlPlane(t);
  const echo = await echoServer(t);
  const { id, bootstrap } = await writeSidecarBootstrap(t, cp, {
    podName: 'client-0',
    namespace: 'app',
    serviceAccount: 'client',
    prefix: 'meshgate-proxy-proc-',
    extra: { accessLog: { path: 'access.log', format: 'json' } },
  });
  const lport = await closedPort();
  const cluster: Cluster = staticCluster('outbound|7|echo', [{ port: echo.port }]);
  const l: Listener = {
    name: `127.0.0.1_${lport}`,
    address: { socketAddress: { address: '127.0.0.1', portValue: lport } },
    filterChains: [{ filters: [tcpProxyFilter(cluster.name)] }],
  };
  cp.cache.setSnapshot(id, snapshotFromResources('1', { listeners: [l], clusters: [cluster], endpoints: [], secrets: [] }));

  const child = spawn(
    process.execPath,
    [...(compiled ? [] : ['--import', 'tsx']), '--input-type=module', '-e', runner, 'proxy', '--bootstrap', bootstrap],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: path.resolve(here, '../..') },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout.resume();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitFor(() => /admin on 127\.0\.0\.1:\d+/.test(stderr), 20_000, `the admin line in the proxy's log; got: ${stderr.slice(-500)}`);
  const adminPort = Number(/admin on 127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
  await waitFor(
    async () =>
      (await fetch(`http://127.0.0.1:${adminPort}/ready`).then(
        (r) => r.status,
        () => 0,
      )) === 200,
    10_000,
    'ready',
  );
  assert.equal((await roundTrip(lport, 'via process')).echoed, 'via process');

  const open = net.connect({ host: '127.0.0.1', port: lport });
  t.after(() => open.destroy());
  open.write('1');
  await new Promise((r) => open.once('data', r));
  child.kill('SIGTERM');
  await waitFor(
    async () => (await roundTrip(lport, 'refused', undefined, 1000)).echoed === '',
    5000,
    'new connections refused during drain',
  );
  open.write('2');
  const again = await new Promise<string>((r) => open.once('data', (d: Buffer) => r(d.toString())));
  assert.equal(again, '2', 'the open connection still works during the drain');
  assert.equal(child.exitCode, null, 'the process waits for the open connection');
  open.end();
  assert.equal(await exited, 0, stderr.slice(-1000));
  assert.match(stderr, /SIGTERM: draining/);
});
